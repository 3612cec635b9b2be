"""The child process behind `llmctl run-local --serve`: llama-cpp-python's OpenAI-compatible server.

It runs `llama_cpp.server` unchanged, with the same CPU-buffer guard the gguf provider loads models
with (see gguf_engine.extra_buffer_types_wanted), and llama.cpp's own log lines kept off stderr.
Usage: python -m llmctl.providers.gguf.server --model PATH --host 127.0.0.1 --port N [server flags]
"""

from __future__ import annotations

import runpy

from llmctl.providers.gguf import engine as gguf_engine


def main() -> None:
    with gguf_engine.model_params_patch():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
