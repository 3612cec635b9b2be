"""Ctrl-C during a batch: exit 130 at once, stdout holding only complete records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.fault_server import FaultServer


@pytest.mark.heavy  # a real llmctl process, interrupted
@pytest.mark.parametrize("concurrency", ["1", "3"])
def test_ctrl_c_mid_batch_exits_130_with_whole_records(tmp_path: Path, concurrency: str) -> None:
    server = FaultServer(hang_seconds=60)
    server.script("chat", "chat", "hang")
    try:
        prompts = tmp_path / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"id": i, "text": f"prompt {i}"}) + "\n" for i in range(8)))
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmctl", "complete", "--base-url", server.base_url, "-m", "openai:local",
             "--jsonl", str(prompts), "--concurrency", concurrency, "--timeout", "120"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        deadline = time.monotonic() + 30
        while sum(1 for s in server.seen if s.path.endswith("/chat/completions")) < 3:
            assert time.monotonic() < deadline, "the batch never reached the hanging request"
            time.sleep(0.05)
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert time.monotonic() - started < 10  # it does not wait for the hung request
    finally:
        server.close()
    assert proc.returncode == 130
    lines = out.decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is a whole JSON record
    ids = [r["id"] for r in records]
    if concurrency == "1":
        assert ids == [0, 1]
    else:
        # Requests run three at a time and the server answers whichever two arrive first, so the
        # records written are the in-order prefix that had completed.
        assert ids == list(range(len(ids))) and len(ids) <= 2
    assert all(r["error"] is None and r["text"] for r in records)
    assert "llmctl: error: interrupted" in err.decode()
