"""Throughput and overhead of the openai provider against a loopback server with a fixed delay.

    .venv/bin/python benchmarks/bench_api.py [--delay-ms 50] [--concurrency 16]

A server in a child process answers every request after L milliseconds. Measured:
  * embed N=2000 texts, one request per text, C at a time (the batch runner) -> ratio to ceil(N/C)*L
  * embed N=2000 texts in one provider call (the provider splits and sends them itself)
  * complete N=500 prompts, C at a time (the batch runner) -> ratio to ceil(N/C)*L
  * llmctl's own per-request overhead at L=0: median provider.complete latency minus the median
    latency of the same request sent with a bare httpx2 client (the baseline) in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1718000000, "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def serve(port: int, delay: float) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and
        # delayed ACKs would add ~40 ms to every answer and measure the kernel, not llmctl.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if delay:
                time.sleep(delay)
            if self.path.endswith("/embeddings"):
                inputs = body["input"]
                payload: dict[str, Any] = {
                    "object": "list", "model": "bench",
                    "data": [{"object": "embedding", "index": i, "embedding": [0.5, 0.5]} for i in range(len(inputs))],
                    "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}}
            else:
                payload = CHAT
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    server.serve_forever()


class LoopbackServer:
    def __init__(self, delay: float) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port), str(delay)])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait()


def open_provider(base_url: str, concurrency: int):  # type: ignore[no-untyped-def]
    from llmctl.providers.registry import get_provider, resolve_model

    ref = resolve_model("openai:bench", base_url=base_url)
    provider = get_provider(ref, {"concurrency": concurrency, "max_retries": 0})
    provider.load(ref)
    return ref, provider


def batch_seconds(n: int, concurrency: int, work) -> float:  # type: ignore[no-untyped-def]
    from llmctl.core.batch import run_batch

    failures: list[BaseException] = []

    def on_result(index: int, result: Any, error: BaseException | None) -> None:
        if error is not None:
            failures.append(error)

    started = time.perf_counter()
    run_batch(range(n), work, concurrency=concurrency, on_result=on_result)
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    return elapsed


def throughput(delay: float, concurrency: int) -> None:
    from llmctl.providers.base import CompletionRequest, EmbeddingRequest

    with LoopbackServer(delay) as server:
        ref, provider = open_provider(server.base_url, concurrency)
        provider.complete(ref, CompletionRequest("warm up"))
        texts = [f"text number {i}" for i in range(2000)]

        n = len(texts)
        ideal = math.ceil(n / concurrency) * delay
        took = batch_seconds(n, concurrency, lambda i: provider.embed(ref, EmbeddingRequest([texts[i]])))
        print(f"embed    N={n} one request each, C={concurrency}, L={delay * 1000:.0f} ms: "
              f"{took:.2f} s vs ideal {ideal:.2f} s -> ratio {took / ideal:.3f} (target <= 1.15)")

        started = time.perf_counter()
        result = provider.embed(ref, EmbeddingRequest(texts))
        took = time.perf_counter() - started
        print(f"embed    N={n} in one provider call (split per limits): {took:.3f} s "
              f"for {len(result.vectors)} vectors ({took / delay:.2f} x L)")

        n = 500
        ideal = math.ceil(n / concurrency) * delay
        took = batch_seconds(n, concurrency, lambda i: provider.complete(ref, CompletionRequest(f"prompt {i}")))
        print(f"complete N={n}, C={concurrency}, L={delay * 1000:.0f} ms: "
              f"{took:.2f} s vs ideal {ideal:.2f} s -> ratio {took / ideal:.3f} (target <= 1.15)")
        provider.close()


def overhead(samples: int) -> None:
    import httpx2

    from llmctl.providers.base import CompletionRequest

    with LoopbackServer(0.0) as server:
        ref, provider = open_provider(server.base_url, 1)
        body = {"model": "bench", "messages": [{"role": "user", "content": "hi"}]}
        with httpx2.Client() as bare:
            url = f"{server.base_url}/chat/completions"
            headers = {"Authorization": "Bearer x"}
            for _ in range(50):
                bare.post(url, json=body, headers=headers).json()
                provider.complete(ref, CompletionRequest("hi"))
            raw, ours = [], []
            for _ in range(samples):
                # Interleaved, so both see the same server and machine state.
                t0 = time.perf_counter()
                bare.post(url, json=body, headers=headers).json()
                t1 = time.perf_counter()
                provider.complete(ref, CompletionRequest("hi"))
                t2 = time.perf_counter()
                raw.append(t1 - t0)
                ours.append(t2 - t1)
        provider.close()
    base_ms, ours_ms = statistics.median(raw) * 1000, statistics.median(ours) * 1000
    print(f"overhead L=0, {samples} requests: bare httpx2 {base_ms:.3f} ms median, llmctl provider "
          f"{ours_ms:.3f} ms median -> llmctl's own overhead {ours_ms - base_ms:.3f} ms (target < 2 ms), "
          f"ratio {ours_ms / base_ms:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DELAY_S"), help=argparse.SUPPRESS)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), float(args.serve[1]))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    throughput(args.delay_ms / 1000, args.concurrency)
    overhead(args.samples)


if __name__ == "__main__":
    main()
