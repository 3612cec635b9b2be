"""Helpers of the prompt-feature tests: tests/api's conftest loaded under its own name, the CLI runner."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_API = Path(__file__).parent.parent / "api" / "conftest.py"
_spec = importlib.util.spec_from_file_location("llmctl_api_conftest_prompt", _API)
assert _spec is not None and _spec.loader is not None
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)


def run_cli(*args: str, input: str | None = None) -> Any:  # noqa: A002
    from typer.testing import CliRunner

    from llmctl.cli.app import app

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
