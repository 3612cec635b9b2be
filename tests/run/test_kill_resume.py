"""The issue's crash test: a 2,000-record batch over HTTP, SIGKILLed mid-way, resumed; every id once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

N = 2000


def _llmctl(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "llmctl", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_sigkill_then_resume_sends_every_id_exactly_once(fault_server, tmp_path: Path) -> None:
    fault_server.hang_seconds = 0.01  # every answer is 10 ms late
    fault_server.script("hang")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i:04d}", "text": f"question {i}"}) + "\n" for i in range(N)))
    out = tmp_path / "answers.jsonl"
    data = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text("[usage]\nlog_text = true\n")  # each row names its input
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-kill", "XDG_DATA_HOME": str(data),
           "LLMCTL_CONFIG": str(config), "PYTHONPATH": str(Path(__file__).parents[2])}
    args = ["complete", "-m", "openai:gpt-4o-mini", "--base-url", fault_server.base_url, "--jsonl", str(prompts),
            "-o", str(out), "--concurrency", "16", "--max-retries", "0"]
    first = _llmctl(args, env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and out.stat().st_size > 0 and out.read_bytes().count(b"\n") >= N // 4:
            break
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()  # type: ignore[union-attr]
    first.stderr.close()  # type: ignore[union-attr]
    done_before = out.read_bytes().count(b"\n")
    assert N // 4 <= done_before < N
    time.sleep(0.2)
    seen_before = len(fault_server.seen)

    second = _llmctl([*args, "--resume"], env)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr.decode()

    records = [json.loads(line) for line in out.read_text().splitlines()]
    ids = [r["id"] for r in records]
    assert len(ids) == N and sorted(ids) == [f"q{i:04d}" for i in range(N)]
    assert all(r["error"] is None and r["text"] == "Frogs sing at night." for r in records)
    db = sqlite3.connect(data / "llmctl" / "usage.db")
    answered = Counter(text for (text,) in db.execute("SELECT text FROM calls WHERE error_type IS NULL"))
    lost = [text for (text,) in db.execute("SELECT text FROM calls WHERE error_type = 'LostRecord'")]
    db.close()
    # The log and the file agree: one answered call for every record. A call answered but killed
    # before its record reached the file was logged first (budgets count the log); the resume marks
    # it LostRecord and sends it again (at most one such call per worker).
    assert answered == Counter(f"question {i}" for i in range(N))
    assert len(lost) <= 16 and all(answered[text] == 1 for text in lost)
    # The resumed run sent exactly what the file lacked.
    assert len(fault_server.seen) - seen_before == N - done_before
