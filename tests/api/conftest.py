"""Fixtures for the API providers: wire-format mocks, the fault server and a real llama.cpp server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fault_server import FaultServer  # noqa: E402

from llmctl.providers.base import ModelRef, Provider  # noqa: E402
from llmctl.providers.registry import get_provider, resolve_model  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
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


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()


@pytest.fixture
def faults(fault_server: FaultServer) -> FaultServer:
    fault_server.script("chat")
    return fault_server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on SmolLM2, chat and embeddings on one port."""
    yield from _serve([str(Path(__file__).parent / "serve_llama.py"), "--embedding", "true"])


@pytest.fixture(scope="session")
def llmctl_server() -> Iterator[str]:
    """The server `llmctl run-local --serve` runs (llmctl.providers.gguf.server) on SmolLM2."""
    from llmctl.providers.gguf import GGUFProvider
    from llmctl.providers.gguf.serve import LocalServer, plan_for

    ref = resolve_model("smollm2")
    plan = plan_for(GGUFProvider({"n_ctx": 2048}), ref)
    server = LocalServer(plan, "127.0.0.1", _free_port())
    server.start()
    try:
        server.wait_ready()
        yield server.base_url
    finally:
        server.stop()


def _serve(command: list[str]) -> Iterator[str]:
    model = resolve_model("smollm2").model
    port = _free_port()
    log = open(os.devnull, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, *command, "--model", model, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command} exited with {proc.returncode} before it was ready")
            try:
                if httpx2.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server was not ready within 120 s")
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(autouse=True)
def close_cached_providers() -> Iterator[None]:
    """Close every provider a test opened (through the CLI too), so no socket outlives its test."""
    yield
    from llmctl.providers import registry

    for provider in list(registry._PROVIDER_CACHE.values()):
        provider.close()
