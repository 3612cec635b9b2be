"""Fixtures for --schema, attachments and tools: the API recorder of tests/api, a scripted chat server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import api_wire
from support.chat_script import ChatScript
from support.prompt_support import run_cli

# The API wire kit's fixtures, used here as in tests/api.
recorder = api_wire.recorder
keys = api_wire.keys
open_model = api_wire.open_model
close_cached_providers = api_wire.close_cached_providers


@pytest.fixture
def chat_script() -> Iterator[ChatScript]:
    server = ChatScript()
    yield server
    server.close()


@pytest.fixture
def data_dir(isolated_user_dirs: Path) -> Path:
    return isolated_user_dirs.parent / "xdg-data" / "llmctl"


@pytest.fixture
def wire(recorder: Any, monkeypatch: pytest.MonkeyPatch, keys: None) -> Callable[..., Any]:
    """The CLI with every API provider sending through the recorder."""
    from llmctl.run import runner

    real = runner.get_provider

    def with_transport(ref: Any, options: dict[str, Any] | None = None) -> Any:
        if ref.kind not in ("openai", "mistral"):
            return real(ref, options)
        return real(ref, {**(options or {}), "transport": recorder.transport, "backoff_base": 0.001})

    monkeypatch.setattr(runner, "get_provider", with_transport)
    return run_cli
