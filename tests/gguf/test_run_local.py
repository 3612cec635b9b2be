"""`llmctl run-local` for real: one-shot through pipes, the chat REPL on a pseudo-terminal, --serve, --bench."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app

from .conftest import PYTHON, ROOT

pytestmark = pytest.mark.slow
runner = CliRunner()
SYSTEM = "You are a helpful assistant."


def test_one_shot_argument() -> None:
    result = runner.invoke(app, ["run-local", "smollm2", "-s", SYSTEM, "-t", "0", "--n-ctx", "512",
                                 "What is the capital of France?"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "Paris" in result.stdout
    assert result.stdout.endswith("\n")
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("gguf:smollm2 · ") and " out tokens · " in line and "tok/s" in line


def test_one_shot_json() -> None:
    result = runner.invoke(app, ["run-local", "smollm2", "--json", "-s", SYSTEM, "-t", "0", "--n-ctx", "512",
                                 "--max-tokens", "5", "What is the capital of France?"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["model"] == "gguf:smollm2"
    assert record["usage"]["output_tokens"] == 5
    assert record["usage"]["estimated"] is False
    assert record["cost"] == {"input": 0, "output": 0, "total": 0, "currency": "USD", "price_as_of": None,
                              "local": True}


def test_one_shot_through_a_pipe() -> None:
    proc = subprocess.run(
        [PYTHON, "-m", "llmctl", "run-local", "smollm2", "-s", SYSTEM, "-t", "0", "--n-ctx", "512"],
        input=b"What is the capital of France?\n", capture_output=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert b"Paris" in proc.stdout
    assert b"gguf:smollm2 \xc2\xb7 " in proc.stderr
    empty = subprocess.run([PYTHON, "-m", "llmctl", "run-local", "smollm2"], input=b"  \n",
                           capture_output=True, cwd=ROOT, timeout=120)
    assert empty.returncode == 2
    assert empty.stderr == b"llmctl: error: <stdin>: empty input\n"


class Terminal:
    """A child process on a pseudo-terminal, read until a marker shows up."""

    def __init__(self, args: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(ROOT)
            os.execv(args[0], args)
        self.seen = b""
        self.pos = 0

    def read_until(self, marker: bytes, timeout: float = 90) -> bytes:
        """What the terminal showed from the last marker up to and including this one."""
        deadline = time.monotonic() + timeout
        while marker not in self.seen[self.pos:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} in {self.seen[self.pos:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {marker!r}: {self.seen[self.pos:]!r}")
                self.seen += chunk
        start = self.pos
        self.pos = self.seen.index(marker, start) + len(marker)
        return self.seen[start:self.pos]

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if ready:
                    self.seen += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the REPL did not exit")


def test_repl_on_a_terminal_keeps_history_resets_and_exits() -> None:
    term = Terminal([PYTHON, "-m", "llmctl", "run-local", "smollm2", "-t", "0", "--n-ctx", "1024",
                     "--max-tokens", "40", "-s", SYSTEM])
    term.read_until(b"/exit")
    term.read_until(b">>> ")
    term.send("My name is Zorblax. Please remember it.\n")
    first = term.read_until(b">>> ")
    assert b"tok/s" in first
    term.send("What is my name?\n")
    second = term.read_until(b">>> ")
    assert b"Zorblax" in second  # the first turn is part of the conversation
    in_tokens = int(second.split(b" in + ")[0].split()[-1].replace(b",", b""))
    assert in_tokens > 40
    term.send("/reset\n")
    assert b"conversation cleared" in term.read_until(b">>> ")
    term.send("What is my name?\n")
    third = term.read_until(b">>> ")
    assert b"Zorblax" not in third
    assert int(third.split(b" in + ")[0].split()[-1].replace(b",", b"")) < in_tokens
    term.send("/exit\n")
    assert term.wait() == 0


def test_repl_exits_on_ctrl_d() -> None:
    term = Terminal([PYTHON, "-m", "llmctl", "run-local", "smollm2", "--n-ctx", "256"])
    term.read_until(b">>> ")
    term.send("\x04")
    assert term.wait() == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_openai_chat_requests() -> None:
    port = _free_port()
    proc = subprocess.Popen([PYTHON, "-m", "llmctl", "run-local", "smollm2", "--serve", "--port", str(port),
                             "--n-ctx", "512"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The port is bound before the server is ready, so a request could be answered before
        # this line is written; wait for it, so that the stop below comes after it.
        assert proc.stderr is not None
        serving = proc.stderr.readline()
        assert serving.startswith(b"serving gguf:smollm2 at http://127.0.0.1:"), serving
        deadline = time.monotonic() + 120
        body = json.dumps({"model": "smollm2", "temperature": 0, "max_tokens": 16,
                           "messages": [{"role": "system", "content": SYSTEM},
                                        {"role": "user", "content": "What is the capital of France?"}]}).encode()
        while True:
            assert proc.poll() is None, "the server exited early"
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as reply:
                    answer = json.loads(reply.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.5)
        assert "Paris" in answer["choices"][0]["message"]["content"]
        assert answer["usage"]["completion_tokens"] > 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0
    assert b"server stopped" in stderr
    with pytest.raises(ConnectionRefusedError):  # the server child is gone too
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_bench_json_fields_positive() -> None:
    result = runner.invoke(app, ["run-local", "smollm2", "--bench", "--json", "--n-ctx", "512",
                                 "--max-tokens", "32"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    for key in ("prompt_tokens_per_s", "generation_tokens_per_s", "time_to_first_token_ms", "peak_rss_mb",
                "load_s", "prompt_tokens", "generated_tokens"):
        assert record[key] > 0, key
    assert record["generated_tokens"] == 32
    assert record["n_ctx"] == 512


def test_bench_time_to_first_token_includes_reading_the_prompt() -> None:
    result = runner.invoke(app, ["run-local", "smollm2", "--bench", "--json", "--n-ctx", "1024",
                                 "--max-tokens", "8"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    # The timed request's prompt is about as long as the measured one (256 tokens) ...
    assert 200 <= record["request_prompt_tokens"] <= record["prompt_tokens"]
    # ... and its first token waits for that prompt to be read: at least half the time the same
    # machine took to read such a prompt a moment before (reading it is most of the wait).
    reading_ms = record["request_prompt_tokens"] / record["prompt_tokens_per_s"] * 1000
    assert record["time_to_first_token_ms"] >= 0.5 * reading_ms


def test_bench_table_is_tsv_in_a_pipe() -> None:
    result = runner.invoke(app, ["run-local", "smollm2", "--bench", "--n-ctx", "512", "--max-tokens", "16"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "metric\tvalue"
    assert {line.split("\t")[0] for line in lines[1:]} >= {"prompt processing", "generation",
                                                            "time to first token", "peak memory (RSS)"}


def test_serve_and_bench_together_is_a_usage_error() -> None:
    result = runner.invoke(app, ["run-local", "smollm2", "--serve", "--bench"], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: --serve and --bench cannot be used together\n"


def test_help_imports_no_llama_cpp() -> None:
    code = "import sys; from llmctl.cli.app import app; print('llama_cpp' in sys.modules)"
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == b"False"

