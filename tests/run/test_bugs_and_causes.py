"""A bug is a bug (exit 1 and one line, never "provider error"), a provider's failure stays exit 4, and
-v shows what led to an error, causes hidden by `from None` included, keys redacted."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.scripted_run import ScriptedProvider, run

from llmctl.core.errors import NetworkError
from llmctl.providers.base import Completion, CompletionRequest, ModelRef

BUG = 'can only concatenate str (not "NoneType") to str'
BUG_LINE = f"llmctl: error: this is a bug in llmctl: TypeError: {BUG}"
HINT = " (run with -v or set LLMCTL_DEBUG=1 for the traceback)"


def _read_usage(body: dict[str, Any]) -> int:
    try:
        return int(body["completion_tokens"])
    except KeyError:
        # As a provider's own code might go wrong while reading a body: the KeyError is the cause.
        raise TypeError(BUG) from None


@pytest.fixture
def buggy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripted backend, with a programming error on every prompt that holds BUG."""
    original = ScriptedProvider.complete

    def complete(self: ScriptedProvider, ref: ModelRef, request: CompletionRequest,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        if "BUG" in request.prompt:
            type(self).calls.append((ref.model, request.prompt))
            _read_usage({"prompt_tokens": 3})
        return original(self, ref, request, on_text)

    monkeypatch.setattr(ScriptedProvider, "complete", complete)


def test_a_type_error_in_a_provider_is_exit_1_and_says_it_is_a_bug(buggy: None) -> None:
    result = run("complete", "-m", "scripted:chat", "a BUG here")
    assert result.exit_code == 1
    assert result.stderr == BUG_LINE + HINT + "\n"
    assert result.stdout == ""


@pytest.mark.parametrize("how", [["complete", "-v"], ["-v", "complete"], ["--verbose", "complete"], ["debug"]])
def test_verbose_shows_the_traceback_and_the_cause_from_none_hid(buggy: None, how: list[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if how == ["debug"]:
        monkeypatch.setenv("LLMCTL_DEBUG", "1")
        how = ["complete"]
    result = run(*how, "-m", "scripted:chat", "a BUG here")
    assert result.exit_code == 1
    err = result.stderr
    assert err.startswith("Traceback (most recent call last):")
    assert "KeyError: 'completion_tokens'" in err  # the cause `from None` kept out of Python's own traceback
    assert err.index("KeyError: 'completion_tokens'") < err.index("which led to:") < err.index(f"TypeError: {BUG}")
    assert "in _read_usage" in err
    assert err.endswith(BUG_LINE + "\n")  # the traceback is there: no hint


def test_a_bug_in_a_batch_stops_the_run_instead_of_writing_provider_errors(buggy: None, tmp_path: Path,
                                                                          data_dir: Path) -> None:
    prompts = tmp_path / "in.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"r{i}", "text": text}) + "\n"
                               for i, text in enumerate(["one", "a BUG", "three", "four"])))
    out = tmp_path / "answers.jsonl"
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "--concurrency", "1", "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr == BUG_LINE + HINT + "\n"
    # The record before the bug is kept; none says "provider error"; nothing after it was sent.
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["text"], r["error"]) for r in records] == [("r0", "ONE", None)]
    assert ScriptedProvider.calls == [("chat", "one"), ("chat", "a BUG")]
    # The call that met the bug may have been paid for: the usage log still has it.
    rows = sqlite3.connect(data_dir / "usage.db").execute("SELECT error_type FROM calls ORDER BY id").fetchall()
    assert rows == [(None,), ("TypeError",)]


def test_a_real_500_stays_a_provider_failure_and_v_shows_its_cause(fault_server: Any) -> None:
    fault_server.script("500")
    args = ["complete", "-m", "openai:local", "--base-url", fault_server.base_url, "--max-retries", "0", "hi"]
    line = ("llmctl: error: openai:local: server error (500) after 1 attempt(s): "
            "The server had an error while processing your request.\n")
    result = run(*args)
    assert result.exit_code == 4
    assert result.stderr == line
    result = run(*args, "-v")
    assert result.exit_code == 4
    lines = result.stderr.splitlines(keepends=True)
    assert lines[-1] == line  # the error's own line stays the last
    # An HTTP status raises nothing underneath: what -v shows before the error is the attempt the server refused.
    assert lines[-2].startswith(f"· POST {fault_server.base_url}/chat/completions [")
    assert " -> 500 after " in lines[-2] and lines[-2].endswith("(attempt 1)\n")


def test_v_walks_the_whole_chain_of_a_refused_connection() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run("complete", "-m", "openai:local", "--base-url", f"http://127.0.0.1:{port}/v1", "--max-retries", "0",
                 "-v", "hi")
    assert result.exit_code == 4
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(f"llmctl: error: openai:local: cannot reach 127.0.0.1:{port} (ConnectError: ")
    # Earliest first: the socket's refusal, each wrapper in turn, then the error itself.
    causes = [line for line in lines if line.startswith("llmctl: cause: ")]
    assert causes[0] == "llmctl: cause: ConnectionRefusedError: [Errno 111] Connection refused"
    assert causes[-2].startswith("llmctl: cause: httpcore2.ConnectError: ")
    assert causes[-1].startswith("llmctl: cause: httpx2.ConnectError: ")


def test_a_cause_never_shows_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPTED_API_KEY", "s3cr3t-value-42")

    def complete(self: ScriptedProvider, ref: ModelRef, request: CompletionRequest,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        try:
            raise ConnectionResetError("the proxy dropped a request with token s3cr3t-value-42")
        except ConnectionResetError:
            raise NetworkError("scripted:chat: connection reset") from None

    monkeypatch.setattr(ScriptedProvider, "complete", complete)
    result = run("complete", "-m", "scripted:chat", "-v", "hi")
    assert result.exit_code == 4
    assert result.stderr == ("llmctl: cause: ConnectionResetError: the proxy dropped a request with token "
                             "[redacted]\n"
                             "llmctl: error: scripted:chat: connection reset\n")
    monkeypatch.setenv("LLMCTL_DEBUG", "1")
    result = run("complete", "-m", "scripted:chat", "hi")
    assert "ConnectionResetError" in result.stderr and "s3cr3t-value-42" not in result.stderr


def test_v_shows_what_led_to_a_failed_record_in_a_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    original = ScriptedProvider.complete

    def complete(self: ScriptedProvider, ref: ModelRef, request: CompletionRequest,
                 on_text: Callable[[str], None] | None = None) -> Completion:
        if "RESET" in request.prompt:
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except ConnectionResetError:
                raise NetworkError("scripted:chat: connection reset") from None
        return original(self, ref, request, on_text)

    monkeypatch.setattr(ScriptedProvider, "complete", complete)
    prompts = tmp_path / "in.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"r{i}", "text": text}) + "\n"
                               for i, text in enumerate(["one", "RESET", "three", "RESET again"])))
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-v")
    assert result.exit_code == 4
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["error"]["message"] if r["error"] else None for r in records] == [
        None, "scripted:chat: connection reset", None, "scripted:chat: connection reset"]
    # Once for the two records that failed alike, before the summary.
    assert result.stderr.count("· cause: ConnectionResetError: [Errno 104] Connection reset by peer\n"
                               "· which led to a record's error: scripted:chat: connection reset\n") == 1
    assert "cause:" not in run("complete", "-m", "scripted:chat", "--jsonl", str(prompts)).stderr
