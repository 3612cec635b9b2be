"""Fixtures of the run layer's tests: the scripted backend wired in, a per-test data dir, the fault server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.scripted_run import CONFIG, ScriptedProvider, slow_models

from llmctl.providers import registry

SUPPORT = Path(__file__).parents[1] / "support"


@pytest.fixture(autouse=True)
def scripted_backend(monkeypatch: pytest.MonkeyPatch, user_config: Callable[[str], Path]) -> Callable[[str], Path]:
    # The scripted provider is installed as a plugin: its distribution's metadata is on sys.path for
    # these tests only, and llmctl finds it through the `llmctl.providers` entry point group.
    monkeypatch.syspath_prepend(str(SUPPORT / "scripted_dist"))
    user_config(CONFIG + slow_models(50, 100, 200, 300))
    ScriptedProvider.calls = []
    ScriptedProvider.in_flight = 0
    ScriptedProvider.most_in_flight = 0

    def more(text: str) -> Path:
        return user_config(CONFIG + slow_models(50, 100, 200, 300) + text)

    return more


@pytest.fixture
def data_dir(isolated_user_dirs: Path) -> Path:
    return isolated_user_dirs.parent / "xdg-data" / "llmctl"


@pytest.fixture
def fault_server() -> Iterator[Any]:
    from support.fault_server import FaultServer

    server = FaultServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def close_cached_providers() -> Iterator[None]:
    """Close every provider a test opened through the CLI, so no socket outlives its test."""
    yield
    for provider in list(registry._PROVIDER_CACHE.values()):
        provider.close()
