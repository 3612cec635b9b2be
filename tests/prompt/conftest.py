"""Fixtures for --schema, attachments and tools: the API recorder of tests/api, a scripted chat server."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_API = Path(__file__).parent.parent / "api" / "conftest.py"
_spec = importlib.util.spec_from_file_location("llmctl_api_conftest_prompt", _API)
assert _spec is not None and _spec.loader is not None
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)

Recorder = api.Recorder
recorder = api.recorder
keys = api.keys
open_model = api.open_model
close_cached_providers = api.close_cached_providers

sys.path.insert(0, str(Path(__file__).parent))

from chat_script import ChatScript  # noqa: E402


@pytest.fixture
def chat_script() -> Iterator[ChatScript]:
    server = ChatScript()
    yield server
    server.close()


@pytest.fixture
def data_dir(isolated_user_dirs: Path) -> Path:
    return isolated_user_dirs.parent / "xdg-data" / "llmctl"


def run_cli(*args: str, input: str | None = None) -> Any:  # noqa: A002
    from typer.testing import CliRunner

    from llmctl.cli.app import app

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
