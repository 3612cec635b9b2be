"""The child process behind `llmctl run-local --serve`: llama-cpp-python's OpenAI-compatible server.

It runs `llama_cpp.server`'s app with the same CPU-buffer guard the gguf provider loads models
with (see gguf_engine.extra_buffer_types_wanted), and llama.cpp's own log lines kept off stderr.
It serves on a socket its parent already bound (`--fd`), dies with that parent (`--parent-pid`),
and answers /v1/embeddings with a 400 when embeddings are off rather than llama.cpp's 500.
It also adds what the server lacks: a stream asked for with `stream_options: {"include_usage": true}`
ends with a chunk carrying the usage, counted as the server counts a whole answer (the prompt as the
template laid it out, and every token generated); the model's defaults (`--request-defaults JSON`)
for whatever a request leaves unset; and, when `LLMCTL_SERVE_KEY` is in its environment (never on
its command line, which any local user can read), a key every request must carry (serve_asgi.py).
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
from collections.abc import Iterator
from typing import Any

from llmctl.providers.gguf import engine as gguf_engine
from llmctl.providers.gguf.serve_asgi import KEY_ENV, RequireKey, WithDefaults

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


def _accept_stream_options() -> None:
    """Let the request models carry `stream_options` (the server drops unknown fields)."""
    from typing import Optional

    import llama_cpp.server.types as types
    from pydantic import Field, create_model

    for name in ("CreateChatCompletionRequest", "CreateCompletionRequest"):
        base = getattr(types, name)
        extended = create_model(
            name, __base__=base,
            stream_options=(Optional[dict[str, Any]], Field(default=None)),  # noqa: UP045
        )
        setattr(types, name, extended)


def _count_generated_tokens() -> None:
    """Every token Llama.generate gives is counted on the model, with the prompt it was given."""
    import llama_cpp

    generate = llama_cpp.Llama.generate

    def counting(self: Any, tokens: Any, *args: Any, **kwargs: Any) -> Iterator[int]:
        vocab = gguf_engine.vocab_of(self)
        self._llmctl_usage = [len(tokens), 0]
        for token in generate(self, tokens, *args, **kwargs):
            if not gguf_engine.is_end_of_generation(vocab, token):
                self._llmctl_usage[1] += 1
            yield token

    llama_cpp.Llama.generate = counting  # type: ignore[method-assign, assignment]


def _with_usage(method_name: str) -> None:
    """Llama.<method>(stream=True, stream_options={"include_usage": True}) ends with a usage chunk."""
    import llama_cpp

    original = getattr(llama_cpp.Llama, method_name)

    def wrapped(self: Any, *args: Any, stream_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if not kwargs.get("stream") or not (stream_options or {}).get("include_usage"):
            return result
        return _then_usage(self, result)

    setattr(llama_cpp.Llama, method_name, wrapped)


def _then_usage(llm: Any, chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    last: dict[str, Any] | None = None
    for chunk in chunks:
        last = chunk
        yield chunk
    prompt, completion = getattr(llm, "_llmctl_usage", (0, 0))
    if last is None:
        return
    yield {
        "id": last.get("id"), "object": last.get("object"), "created": last.get("created"),
        "model": last.get("model"), "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def run_server(argv: list[str]) -> None:
    """Parse llama_cpp.server's own flags plus ours, build its app and serve it on the inherited socket."""
    import uvicorn

    # The request types are patched before the app module binds them.
    _accept_stream_options()
    _count_generated_tokens()
    _with_usage("create_chat_completion")
    _with_usage("create_completion")
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    ours = argparse.ArgumentParser(add_help=False)
    ours.add_argument("--fd", type=int, required=True)
    ours.add_argument("--parent-pid", type=int, required=True)
    ours.add_argument("--mean-pooling", action="store_true")
    ours.add_argument("--request-defaults", type=json.loads, default={})
    mine, rest = ours.parse_known_args(argv)
    die_with_parent(mine.parent_pid)
    parser = argparse.ArgumentParser(prog="llmctl-serve")
    add_args_from_model(parser, Settings)
    args = parser.parse_args(rest)
    server_settings = parse_model_from_args(ServerSettings, args)
    model_settings = parse_model_from_args(ModelSettings, args)
    if mine.mean_pooling:
        use_mean_pooling()
    # parse_model_from_args is typed as returning the class; it returns an instance of it.
    app: Any = create_app(server_settings=server_settings,  # type: ignore[arg-type]
                          model_settings=[model_settings])  # type: ignore[list-item]
    if not model_settings.embedding:
        app = EmbeddingsOff(app, model_settings.model_alias or "the model")
    app = WithDefaults(app, mine.request_defaults)
    key = os.environ.pop(KEY_ENV, "")
    if key:
        app = RequireKey(app, key)
    sock = socket.socket(fileno=mine.fd)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    with gguf_engine.model_params_patch():
        run_server(sys.argv[1:])


if __name__ == "__main__":
    main()
