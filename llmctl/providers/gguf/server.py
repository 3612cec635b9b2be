"""The child process behind `llmctl run-local --serve`: llama-cpp-python's OpenAI-compatible server.

It runs `llama_cpp.server`'s app with the same CPU-buffer guard the gguf provider loads models
with (see gguf_engine.extra_buffer_types_wanted), and llama.cpp's own log lines kept off stderr.
It serves on a socket its parent already bound (`--fd`), dies with that parent (`--parent-pid`),
and answers /v1/embeddings with a 400 when embeddings are off rather than llama.cpp's 500.
Usage: python -m llmctl.providers.gguf.server --fd N --parent-pid PID --model PATH [server flags]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import socket
import sys
from typing import Any

from llmctl.providers.gguf import engine as gguf_engine

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to send SIGTERM when the parent dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own signal handling still stops us
        pass
    if os.getppid() != parent_pid:
        sys.exit(0)


class EmbeddingsOff:
    """ASGI wrapper: /v1/embeddings is a clear 400 (not retried) when the model serves generation only."""

    def __init__(self, app: Any, alias: str) -> None:
        self.app = app
        self.body = json.dumps({"error": {
            "message": f"{alias} is served for generation only; embeddings are off "
                       f"(serve it with `llmctl run-local {alias} --serve --embedding`)",
            "type": "invalid_request_error", "param": None, "code": "embeddings_disabled"}}).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in ("/v1/embeddings", "/embeddings"):
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(self.body)).encode())]})
            await send({"type": "http.response.body", "body": self.body})
            return
        await self.app(scope, receive, send)


def use_mean_pooling() -> None:
    """A chat model's GGUF names no pooling; with embeddings on, pool by mean (one vector per input)."""
    import llama_cpp
    import llama_cpp.llama_cpp as native

    class MeanPooledLlama(llama_cpp.Llama):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("embedding"):
                kwargs.setdefault("pooling_type", native.LLAMA_POOLING_TYPE_MEAN)
            super().__init__(*args, **kwargs)

    llama_cpp.Llama = MeanPooledLlama  # type: ignore[misc]


def run_server(argv: list[str]) -> None:
    """Parse llama_cpp.server's own flags plus ours, build its app and serve it on the inherited socket."""
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--fd", type=int, required=True)
    ours.add_argument("--parent-pid", type=int, required=True)
    ours.add_argument("--mean-pooling", action="store_true")
    mine, rest = ours.parse_known_args(argv)
    die_with_parent(mine.parent_pid)
    parser = argparse.ArgumentParser(prog="llmctl-serve")
    add_args_from_model(parser, Settings)
    args = parser.parse_args(rest)
    server_settings = parse_model_from_args(ServerSettings, args)
    model_settings = parse_model_from_args(ModelSettings, args)
    if mine.mean_pooling:
        use_mean_pooling()
    app: Any = create_app(server_settings=server_settings, model_settings=[model_settings])
    if not model_settings.embedding:
        app = EmbeddingsOff(app, model_settings.model_alias or "the model")
    sock = socket.socket(fileno=mine.fd)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    with gguf_engine.model_params_patch():
        run_server(sys.argv[1:])


if __name__ == "__main__":
    main()
