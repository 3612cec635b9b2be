"""The child process behind `llmctl run-local --serve`: llama-cpp-python's OpenAI-compatible server.

It runs `llama_cpp.server` with the same CPU-buffer guard the gguf provider loads models with (see
gguf_engine.extra_buffer_types_wanted), llama.cpp's own log lines kept off stderr, and one thing
the server lacks: a stream asked for with `stream_options: {"include_usage": true}` ends with a
chunk carrying the usage, counted as the server counts a whole answer (the prompt as the template
laid it out, and every token generated).
Usage: python -m llmctl.providers.gguf.server --model PATH --host 127.0.0.1 --port N [server flags]
"""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from typing import Any

from llmctl.providers.gguf import engine as gguf_engine


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

    llama_cpp.Llama.generate = counting  # type: ignore[method-assign]


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


def main() -> None:
    _accept_stream_options()
    _count_generated_tokens()
    _with_usage("create_chat_completion")
    _with_usage("create_completion")
    with gguf_engine.model_params_patch():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
