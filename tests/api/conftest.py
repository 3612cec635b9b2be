"""Fixtures for the API providers: wire-format mocks, the fault server and a real llama.cpp server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from support.api_wire import close_cached_providers, keys, open_model, recorder  # noqa: F401 - fixtures of this folder
from support.fault_server import FaultServer

from llmctl.providers.registry import resolve_model


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
    yield from _serve([str(Path(__file__).parents[1] / "support" / "serve_llama.py"), "--embedding", "true"])


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


