"""Reliability against a loopback server that fails on cue: through the provider, then through the CLI."""

from __future__ import annotations

import json
import socket

import pytest
from support.fault_server import CHAT_ANSWER, FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import NetworkError, ProviderError, RateLimitError
from llmctl.providers.base import CompletionRequest, EmbeddingRequest
from llmctl.providers.registry import get_provider, resolve_model


def _open(faults: FaultServer, name: str = "openai:local", **options):  # type: ignore[no-untyped-def]
    ref = resolve_model(name, base_url=faults.base_url)
    options.setdefault("backoff_base", 0.001)
    return ref, get_provider(ref, options)


@pytest.mark.heavy  # waits out a real 1 s Retry-After
@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_429_waits_for_retry_after_then_succeeds(faults: FaultServer, kind: str) -> None:
    faults.script("429:1", "chat")
    ref, provider = _open(faults, f"{kind}:local", max_retries=2)
    result = provider.complete(ref, CompletionRequest("hi"))
    assert result.text == CHAT_ANSWER
    assert len(faults.seen) == 2
    assert faults.seen[1].at - faults.seen[0].at >= 0.95
    provider.close()


def test_429_every_time_is_exit_4(faults: FaultServer) -> None:
    faults.script("429:0")
    ref, provider = _open(faults, max_retries=2)
    with pytest.raises(RateLimitError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4
    assert err.value.one_line() == ("openai:local: rate limited (429) after 3 attempt(s): "
                                    "Rate limit reached for requests")
    assert len(faults.seen) == 3


def test_500s_are_retried_then_reported(faults: FaultServer) -> None:
    faults.script("500", "500", "chat")
    ref, provider = _open(faults, max_retries=2)
    assert provider.complete(ref, CompletionRequest("hi")).text == CHAT_ANSWER
    assert len(faults.seen) == 3
    faults.script("500")
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.one_line() == ("openai:local: server error (500) after 3 attempt(s): "
                                    "The server had an error while processing your request.")
    assert len(faults.seen) == 3


@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_a_hang_on_a_completion_is_sent_once(faults: FaultServer, kind: str) -> None:
    # The server accepted the request and may be writing (and billing) the answer still.
    faults.script("hang")
    ref, provider = _open(faults, f"{kind}:local", timeout=0.3, max_retries=3)
    with pytest.raises(NetworkError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4
    assert err.value.one_line() == (
        f"{kind}:local: the request timed out after 0.3 s (ReadTimeout) after the server accepted it; it was not "
        "sent again, since the provider may already bill it (raise --timeout, or pass --retry-timeouts to send "
        "it again)")
    assert len(faults.seen) == 1


def test_retry_timeouts_sends_a_hung_completion_again(faults: FaultServer) -> None:
    faults.script("hang", "chat")
    ref, provider = _open(faults, timeout=0.3, max_retries=1, retry_timeouts=True)
    assert provider.complete(ref, CompletionRequest("hi")).text == CHAT_ANSWER
    assert len(faults.seen) == 2


@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_a_hang_on_embeddings_is_sent_once(faults: FaultServer, kind: str) -> None:
    # Embeddings are billed per input token: once accepted, a second request may be paid twice.
    faults.script("hang", "embed")
    ref, provider = _open(faults, f"{kind}:local", timeout=0.3, max_retries=3)
    with pytest.raises(NetworkError) as err:
        provider.embed(ref, EmbeddingRequest(["a", "b"]))
    assert err.value.one_line() == (
        f"{kind}:local: the request timed out after 0.3 s (ReadTimeout) after the server accepted it; it was not "
        "sent again, since the provider may already bill it (raise --timeout, or pass --retry-timeouts to send "
        "it again)")
    assert [s.path for s in faults.seen] == ["/v1/embeddings"]


def test_retry_timeouts_sends_hung_embeddings_again(faults: FaultServer) -> None:
    faults.script("hang", "embed")
    ref, provider = _open(faults, timeout=0.3, max_retries=1, retry_timeouts=True)
    result = provider.embed(ref, EmbeddingRequest(["a", "b"]))
    assert result.vectors == [[0.0, 1.0], [1.0, 1.0]]
    assert [s.path for s in faults.seen] == ["/v1/embeddings", "/v1/embeddings"]


def test_hung_embeddings_every_time_with_retry_timeouts_names_the_attempts(faults: FaultServer) -> None:
    faults.script("hang")
    ref, provider = _open(faults, timeout=0.3, max_retries=1, retry_timeouts=True)
    with pytest.raises(NetworkError) as err:
        provider.embed(ref, EmbeddingRequest(["a"]))
    assert err.value.one_line() == ("openai:local: the request timed out after 0.3 s (ReadTimeout) after 2 "
                                    "attempt(s) (raise --timeout or retry later)")
    assert len(faults.seen) == 2


@pytest.mark.heavy  # waits out real hangs
def test_cli_embed_hang_is_sent_once_unless_asked(faults: FaultServer) -> None:
    faults.script("hang", "embed")
    args = ["embed", "--base-url", faults.base_url, "-m", "openai:local", "--timeout", "0.3", "--json", "hi"]
    result = _cli(*args)
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["message"] == (
        "openai:local: the request timed out after 0.3 s (ReadTimeout) after the server accepted it; it was not "
        "sent again, since the provider may already bill it (raise --timeout, or pass --retry-timeouts to send "
        "it again)")
    assert len(faults.seen) == 1
    faults.script("hang", "embed")
    again = _cli(*args, "--retry-timeouts")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["dimensions"] == 2
    assert len(faults.seen) == 2


@pytest.mark.parametrize("kind", ["openai", "mistral"])
@pytest.mark.parametrize("mode", ["cut", "cutclean"])
def test_a_stream_cut_halfway_is_an_error_not_a_short_answer(faults: FaultServer, kind: str, mode: str) -> None:
    faults.script(mode)
    ref, provider = _open(faults, f"{kind}:local", max_retries=0)
    seen: list[str] = []
    with pytest.raises(NetworkError) as err:
        provider.complete(ref, CompletionRequest("hi", stream=True), seen.append)
    assert seen == ["Frogs ", "sing "]
    assert err.value.exit_code == 4
    line = err.value.one_line()
    assert line.startswith(f"{kind}:local: the stream ")
    assert "before the answer was complete" in line
    provider.close()


@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_a_body_that_is_not_json_is_exit_4(faults: FaultServer, kind: str) -> None:
    faults.script("notjson")
    ref, provider = _open(faults, f"{kind}:local", max_retries=0)
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4
    assert "the server answered with a body that is not JSON (HTTP 200" in err.value.one_line()
    assert "'<html><body>502 Bad Gateway</body></html>'" in err.value.one_line()
    provider.close()


def test_connection_refused_is_retried_then_exit_4() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ref = resolve_model("openai:local", base_url=f"http://127.0.0.1:{port}/v1")
    provider = get_provider(ref, {"max_retries": 1, "backoff_base": 0.001})
    with pytest.raises(NetworkError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.one_line().startswith(f"openai:local: cannot reach 127.0.0.1:{port} (ConnectError: ")


def test_embed_retries_a_500(faults: FaultServer) -> None:
    faults.script("500", "embed")
    ref, provider = _open(faults, max_retries=1)
    result = provider.embed(ref, EmbeddingRequest(["a", "b", "c"]))
    assert result.vectors == [[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]
    assert len(faults.seen) == 2


# ---------------------------------------------------------------------- the same through the CLI
def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.heavy  # waits out a real 1 s Retry-After
def test_cli_429_then_success(faults: FaultServer) -> None:
    faults.script("429:1", "chat")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--max-retries", "1",
                  "--quiet", "hi")
    assert result.exit_code == 0
    assert result.stdout == CHAT_ANSWER + "\n"
    assert len(faults.seen) == 2


def test_cli_500s_exit_4_with_one_line(faults: FaultServer) -> None:
    faults.script("500")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--max-retries", "1", "hi")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == ("llmctl: error: openai:local: server error (500) after 2 attempt(s): "
                             "The server had an error while processing your request.\n")


def test_cli_hang_exit_4(faults: FaultServer) -> None:
    faults.script("hang")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--max-retries", "0",
                  "--timeout", "0.3", "hi")
    assert result.exit_code == 4
    assert result.stderr == ("llmctl: error: openai:local: the request timed out after 0.3 s (ReadTimeout) after "
                             "the server accepted it; it was not sent again, since the provider may already bill "
                             "it (raise --timeout, or pass --retry-timeouts to send it again)\n")


def test_cli_cut_stream_exit_4(faults: FaultServer) -> None:
    faults.script("cut")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--max-retries", "0",
                  "--stream", "hi")
    assert result.exit_code == 4
    assert result.stdout.startswith("Frogs sing ")
    assert result.stderr.endswith("llmctl: error: openai:local: the stream was cut before the answer was "
                                  "complete (RemoteProtocolError)\n")


def test_cli_not_json_exit_4(faults: FaultServer) -> None:
    faults.script("notjson")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:local", "--max-retries", "0", "hi")
    assert result.exit_code == 4
    assert result.stderr == ("llmctl: error: openai:local: the server answered with a body that is not JSON "
                             "(HTTP 200, text/html): '<html><body>502 Bad Gateway</body></html>'\n")


def test_cli_embed_retries_then_writes_vectors(faults: FaultServer) -> None:
    faults.script("500", "embed")
    result = _cli("embed", "--base-url", faults.base_url, "-m", "openai:local", "--max-retries", "1",
                  "--quiet", "a", "b")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["embedding"] for r in records] == [[0.0, 1.0], [1.0, 1.0]]


def test_cli_verbose_traces_with_the_profile_key_redacted(faults: FaultServer, user_config,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    user_config(f'[profiles.loop]\nkind = "openai"\nbase_url = "{faults.base_url}"\nkey_env = "LOOP_KEY"\n')
    monkeypatch.setenv("LOOP_KEY", "loop-secret-987654321")
    faults.script("500", "chat")
    result = _cli("complete", "-m", "loop:any", "--verbose", "--max-retries", "1", "--quiet", "hi")
    assert result.exit_code == 0
    assert faults.seen[0].headers["authorization"] == "Bearer loop-secret-987654321"
    assert "loop-secret-987654321" not in result.stderr + result.stdout
    traces = [line for line in result.stderr.splitlines() if "/v1/chat/completions" in line]
    assert len(traces) == 2
    assert all("authorization=[redacted]" in line for line in traces)
    assert " -> 500 after " in traces[0] and " -> 200 after " in traces[1]


def test_cli_missing_key_exit_3() -> None:
    result = _cli("complete", "-m", "openai:gpt-4o-mini", "hi")
    assert result.exit_code == 3
    assert result.stderr == ("llmctl: error: OPENAI_API_KEY is not set; openai needs an API key "
                             "(export OPENAI_API_KEY=... in your shell)\n")


def test_cli_top_k_on_openai_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused-000000")
    result = _cli("complete", "-m", "openai:gpt-4o-mini", "--top-k", "5", "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith("llmctl: error: --top-k is not supported by the OpenAI API")
