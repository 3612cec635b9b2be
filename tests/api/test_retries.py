"""Money-safe retries: what is sent again, how long llmctl waits, and what --verbose says about it."""

from __future__ import annotations

import datetime
import re

import pytest
from support.fault_server import CHAT_ANSWER, FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import RateLimitError
from llmctl.core.http import CONNECT_TIMEOUT, DEFAULT_TIMEOUT, make_timeout
from llmctl.providers.base import CompletionRequest
from llmctl.providers.registry import get_provider, resolve_model


def _open(faults: FaultServer, name: str = "openai:local", **options):  # type: ignore[no-untyped-def]
    ref = resolve_model(name, base_url=faults.base_url)
    options.setdefault("backoff_base", 0.001)
    return ref, get_provider(ref, options)


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("status", ["408", "409", "502", "503"])
def test_statuses_answered_before_any_output_are_retried(faults: FaultServer, status: str) -> None:
    faults.script(status, "chat")
    ref, provider = _open(faults, max_retries=1)
    assert provider.complete(ref, CompletionRequest("hi")).text == CHAT_ANSWER
    assert len(faults.seen) == 2


@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_retry_after_beyond_max_wait_is_exit_4_with_a_time_to_come_back(faults: FaultServer, kind: str) -> None:
    faults.script("429:300", "chat")
    ref, provider = _open(faults, f"{kind}:local", max_retries=3)
    before = datetime.datetime.now(datetime.UTC)
    with pytest.raises(RateLimitError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    line = err.value.one_line()
    assert err.value.exit_code == 4
    assert len(faults.seen) == 1  # never an early retry
    found = re.fullmatch(rf"{kind}:local: rate limited \(429\); the server asks to wait 300 s, more than "
                         r"--max-wait 60 s: try again after (\S+ \S+) UTC: Rate limit reached for requests", line)
    assert found, line
    back = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.UTC)
    assert 295 <= (back - before).total_seconds() <= 305


@pytest.mark.heavy  # waits out a real 1 s Retry-After
def test_max_wait_raises_the_wait_llmctl_accepts(faults: FaultServer) -> None:
    faults.script("429:1", "chat")
    ref, provider = _open(faults, max_retries=1, max_wait=0.5)
    with pytest.raises(RateLimitError):
        provider.complete(ref, CompletionRequest("hi"))
    assert len(faults.seen) == 1
    faults.script("429:1", "chat")
    ref, provider = _open(faults, max_retries=1, max_wait=2)
    assert provider.complete(ref, CompletionRequest("hi")).text == CHAT_ANSWER
    assert faults.seen[1].at - faults.seen[0].at >= 0.95


def test_cli_max_wait_from_the_command_line(faults: FaultServer) -> None:
    faults.script("429:120", "chat")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--max-wait", "5", "hi")
    assert result.exit_code == 4
    assert "the server asks to wait 120 s, more than --max-wait 5 s: try again after " in result.stderr
    assert len(faults.seen) == 1


def test_cli_negative_max_wait_is_exit_2(faults: FaultServer) -> None:
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--max-wait", "-1", "hi")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: --max-wait must be at least 0, not -1\n"
    assert faults.seen == []


def test_cli_retry_timeouts_sends_a_hung_completion_again(faults: FaultServer) -> None:
    faults.script("hang", "chat")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--timeout", "0.3",
                  "--retry-timeouts", "--quiet", "hi")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == CHAT_ANSWER + "\n"
    assert len(faults.seen) == 2


def test_cli_verbose_shows_each_retry_and_why(faults: FaultServer) -> None:
    faults.script("503", "429:0", "hang")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--timeout", "0.3",
                  "--max-retries", "3", "--verbose", "hi")
    assert result.exit_code == 4
    traces = [line for line in result.stderr.splitlines() if "/v1/chat/completions" in line]
    assert len(traces) == 3
    assert " -> 503 after " in traces[0] and "(server error before any output); retry 1/3 in " in traces[0]
    assert " -> 429 after " in traces[1] and "(rate limited); retry 2/3 in 0.00 s (Retry-After)" in traces[1]
    assert " -> ReadTimeout after " in traces[2]
    assert traces[2].endswith("(the request was accepted and may be billed; not sent again (--retry-timeouts "
                              "sends it)); giving up after 3 attempt(s)")
    assert len(faults.seen) == 3


@pytest.mark.heavy  # waits out real back-offs
def test_cli_connection_refused_is_retried(faults: FaultServer) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _cli("complete", "--base-url", f"http://127.0.0.1:{port}/v1", "-m", "openai:local",
                  "--max-retries", "2", "--verbose", "hi")
    assert result.exit_code == 4
    refused = [line for line in result.stderr.splitlines() if "ConnectError" in line and "(not sent)" in line]
    assert len(refused) == 3
    assert result.stderr.splitlines()[-1].startswith(
        f"llmctl: error: openai:local: cannot reach 127.0.0.1:{port} (ConnectError: ")


def test_timeouts_are_the_sdks_connect_short_read_long() -> None:
    # openai-python's own default is httpx.Timeout(600, connect=5.0).
    import openai._constants

    sdk = openai._constants.DEFAULT_TIMEOUT
    ours = make_timeout(None)
    assert (ours.connect, ours.read, ours.write, ours.pool) == (sdk.connect, sdk.read, sdk.write, sdk.pool)
    assert (CONNECT_TIMEOUT, DEFAULT_TIMEOUT) == (5.0, 600.0)
    assert make_timeout(30).connect == 5.0 and make_timeout(2).connect == 2.0


@pytest.mark.parametrize(("method", "path", "retry_timeouts", "sent"), [
    ("POST", "/v1/embeddings", False, 1),  # billed per input token
    ("POST", "/v1/files", False, 1),  # a second upload is a second file
    ("POST", "/v1/batches", False, 1),  # a second batch is billed again
    ("POST", "/v1/batch/jobs", True, 1),  # ... even when the user allows re-sending
    ("POST", "/v1/embeddings", True, 2),
    ("POST", "/v1/files", True, 2),
    ("GET", "/v1/batches/batch_1", False, 2),  # reading twice does no harm
    ("POST", "/v1/batches/batch_1/cancel", False, 2),  # nor does cancelling twice
])
def test_what_a_read_timeout_sends_again(method: str, path: str, retry_timeouts: bool, sent: int) -> None:
    import httpx2

    from llmctl.core.http import make_client

    calls: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx2.ReadTimeout("timed out", request=request)
        return httpx2.Response(200, json={"id": "x"})

    client = make_client(transport=httpx2.MockTransport(answer), backoff_base=0.001, retry_timeouts=retry_timeouts)
    try:
        if sent == 1:
            with pytest.raises(httpx2.ReadTimeout):
                client.request(method, f"http://127.0.0.1:9{path}")
        else:
            assert client.request(method, f"http://127.0.0.1:9{path}").status_code == 200
    finally:
        client.close()
    assert calls == [path] * sent


@pytest.mark.parametrize(("status", "sent"), [(500, 1), (503, 1), (408, 1), (429, 2)])
def test_a_batch_creation_is_sent_again_only_after_a_429(status: int, sent: int) -> None:
    import httpx2

    from llmctl.core.http import make_client

    calls: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        return httpx2.Response(status if len(calls) == 1 else 200, json={"id": "batch_1"})

    client = make_client(transport=httpx2.MockTransport(answer), backoff_base=0.001)
    try:
        response = client.post("http://127.0.0.1:9/v1/batches", json={})
    finally:
        client.close()
    assert len(calls) == sent
    assert response.status_code == (status if sent == 1 else 200)
