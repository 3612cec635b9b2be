"""`run-local --serve` owns its server: every way the parent stops takes the child with it; a taken port
is refused up front; /v1/embeddings is served for embedding models and a clear 400 otherwise."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from llmctl.providers.base import EmbeddingRequest
from llmctl.providers.gguf import GGUFProvider
from llmctl.providers.gguf.serve import plan_for
from llmctl.providers.registry import resolve_model

from .conftest import PYTHON, ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_children(parent: int) -> list[int]:
    """Pids of server children started by `parent` (found by their command line, not by asking it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"llmctl.providers.gguf.server" in args and b"--parent-pid" in args \
                and args[args.index(b"--parent-pid") + 1] == str(parent).encode():
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Served:
    """`llmctl run-local smollm2 --serve` in a subprocess, waited for until it says it serves."""

    def __init__(self, *extra: str) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen([PYTHON, "-m", "llmctl", "run-local", "smollm2", "--serve", "--port",
                                      str(self.port), "--n-ctx", "512", *extra],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stderr is not None
        #: stderr lines before the "serving" one (warnings)
        self.before: list[bytes] = []
        line = self.proc.stderr.readline()
        while line.startswith(b"warning: "):
            self.before.append(line)
            line = self.proc.stderr.readline()
        assert line.startswith(b"serving gguf:smollm2 at "), line + self.proc.stderr.read()
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.children = _server_children(self.proc.pid)
        assert len(self.children) == 1

    def post(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def port_closed(self, within: float = 15) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            time.sleep(0.2)
        return False

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_stop_signal_to_the_parent_stops_the_server(stop: signal.Signals) -> None:
    served = Served()
    try:
        served.proc.send_signal(stop)
        _, stderr = served.proc.communicate(timeout=30)
        assert served.proc.returncode == 0
        assert b"server stopped" in stderr
        assert served.port_closed()
        assert not any(_alive(pid) for pid in served.children)
    finally:
        served.close()


def test_sigkill_of_the_parent_takes_the_server_down() -> None:
    served = Served()
    try:
        served.proc.kill()
        served.proc.wait()
        assert served.port_closed(), "the server outlived a SIGKILLed parent"
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in served.children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in served.children)
    finally:
        served.close()


def test_a_taken_port_is_exit_2_naming_it_before_serving() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run([PYTHON, "-m", "llmctl", "run-local", "smollm2", "--serve", "--port", str(port)],
                              cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (f"llmctl: error: port {port} on 127.0.0.1 is already in use; "
                           "pick another with --port\n").encode()
    assert proc.stdout == b""


def test_generation_model_refuses_embeddings_with_a_400_that_llmctl_does_not_retry() -> None:
    served = Served()
    try:
        status, body = served.post("/embeddings", {"model": "smollm2", "input": "hello"})
        assert status == 400
        assert "served for generation only" in body["error"]["message"]  # type: ignore[index]
        embed = subprocess.run([PYTHON, "-m", "llmctl", "-v", "embed", "--base-url", served.base,
                                "-m", "openai:smollm2", "--max-retries", "3", "hello"],
                               cwd=ROOT, capture_output=True, timeout=60)
        assert embed.returncode == 2, embed.stderr
        assert b"served for generation only" in embed.stderr
        assert b"retry" not in embed.stderr
        # The server still answers chat.
        status, answer = served.post("/chat/completions", {"model": "smollm2", "max_tokens": 4,
                                                            "messages": [{"role": "user", "content": "Hi"}]})
        assert status == 200 and answer["usage"]["completion_tokens"] > 0  # type: ignore[index]
    finally:
        served.close()


def test_embedding_flag_serves_the_same_vectors_as_the_library() -> None:
    served = Served("--embedding")
    try:
        status, body = served.post("/embeddings", {"model": "smollm2", "input": ["king", "frogs sing at night"]})
        assert status == 200, body
        vectors = [item["embedding"] for item in body["data"]]  # type: ignore[index]
    finally:
        served.close()
    ref = resolve_model("smollm2")
    provider = GGUFProvider({"n_ctx": 512})
    try:
        local = provider.embed(ref, EmbeddingRequest(["king", "frogs sing at night"])).vectors
    finally:
        provider.close()
    for served_vector, own in zip(vectors, local, strict=True):
        assert len(served_vector) == len(own) == 576
        dot = sum(a * b for a, b in zip(served_vector, own, strict=True))
        cosine = dot / math.sqrt(sum(a * a for a in served_vector) * sum(b * b for b in own))
        assert cosine > 0.999


def test_embedding_models_are_planned_with_embeddings_on(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "bert.gguf"
    writer = gguf.GGUFWriter(str(path), "bert")
    writer.add_context_length(512)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    provider = GGUFProvider({})
    bert = plan_for(provider, resolve_model(f"gguf:{path}"))
    assert bert.embedding and not bert.mean_pooling  # the file names its own pooling
    assert "--embedding" in bert.arguments(3) and bert.arguments(3)[bert.arguments(3).index("--embedding") + 1] \
        == "true"
    chat = plan_for(provider, resolve_model("smollm2"))
    assert not chat.embedding
    assert plan_for(provider, resolve_model("smollm2"), embedding=True).mean_pooling
