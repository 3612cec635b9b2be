"""Run `python -m llama_cpp.server` for the tests: weight repacking off, embeddings mean-pooled.

On CPUs that advertise AMX to a guest that cannot use it, ggml's repacked AMX kernels fault
(`ldtilecfg`); plain kernels work everywhere, so the server is started with them.
A chat model's GGUF names no pooling, and the server would then answer one vector per token;
mean pooling gives one vector per input, as the embeddings API promises.
Usage: python tests/support/serve_llama.py --model PATH --host 127.0.0.1 --port N [--embedding true]
"""

from __future__ import annotations

import runpy

import llama_cpp
import llama_cpp.llama_cpp as native

_default_params = native.llama_model_default_params


def _params_without_repacking():  # type: ignore[no-untyped-def]
    params = _default_params()
    params.use_extra_bufts = False
    return params


native.llama_model_default_params = _params_without_repacking


class _MeanPooledLlama(llama_cpp.Llama):
    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("embedding"):
            kwargs.setdefault("pooling_type", native.LLAMA_POOLING_TYPE_MEAN)
        super().__init__(*args, **kwargs)


llama_cpp.Llama = _MeanPooledLlama  # type: ignore[misc]

if __name__ == "__main__":
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
