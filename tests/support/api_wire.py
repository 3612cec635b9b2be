"""The API tests' wire kit: recorded fixtures, test keys, a recording mock transport and its fixtures.

Conftests that want the fixtures import them by name (`from support.api_wire import recorder, keys`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from llmctl.providers.base import ModelRef, Provider
from llmctl.providers.registry import get_provider, resolve_model

FIXTURES = Path(__file__).parents[1] / "api" / "fixtures"
OPENAI_KEY = "sk-test-0123456789abcdefSECRET"
MISTRAL_KEY = "mistral-test-key-0123456789SECRET"
ANTHROPIC_KEY = "sk-ant-api03-test0123456789abcdefSECRET"
GEMINI_KEY = "AIzaSyD-test_0123-4567_89ab-cdSECRET"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_text(name))


class Recorder:
    """An httpx2 MockTransport that answers from a queue and keeps every request it saw."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self._answers: list[Callable[[httpx2.Request], httpx2.Response]] = []

    def reply(self, status: int = 200, *, json_body: Any = None, sse: str | None = None,
              text: str | None = None, headers: dict[str, str] | None = None) -> Recorder:
        def answer(request: httpx2.Request) -> httpx2.Response:
            if sse is not None:
                return httpx2.Response(status, headers={"content-type": "text/event-stream", **(headers or {})},
                                       content=sse.encode())
            if text is not None:
                return httpx2.Response(status, headers=headers, text=text)
            return httpx2.Response(status, headers=headers, json=json_body)

        self._answers.append(answer)
        return self

    def answer_with(self, fn: Callable[[httpx2.Request], httpx2.Response]) -> Recorder:
        self._answers.append(fn)
        return self

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        self.requests.append(request)
        answer = self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]
        return answer(request)

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self)

    def body(self, n: int = -1) -> Any:
        return json.loads(self.requests[n].content)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("MISTRAL_API_KEY", MISTRAL_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


@pytest.fixture
def open_model(recorder: Recorder) -> Iterator[Callable[..., tuple[ModelRef, Provider]]]:
    """`open_model("openai:gpt-4o-mini", max_retries=0)` -> (ref, provider) wired to the recorder."""
    opened: list[Provider] = []

    def make(name: str, *, base_url: str | None = None, **options: Any) -> tuple[ModelRef, Provider]:
        ref = resolve_model(name, base_url=base_url)
        options.setdefault("transport", recorder.transport)
        options.setdefault("backoff_base", 0.001)
        provider = get_provider(ref, options)
        opened.append(provider)
        return ref, provider

    yield make
    for provider in opened:
        provider.close()


@pytest.fixture(autouse=True)
def close_cached_providers() -> Iterator[None]:
    """Close every provider a test opened (through the CLI too), so no socket outlives its test."""
    yield
    from llmctl.providers import registry

    for provider in list(registry._PROVIDER_CACHE.values()):
        provider.close()
