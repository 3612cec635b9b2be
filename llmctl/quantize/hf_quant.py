"""HF folder -> quantized HF folder in transformers: torchao int8 weight-only, bitsandbytes NF4 / int8.

The model is loaded on the CPU with a quantization config, saved with `save_pretrained` (the
config's `quantization_config` goes with it, so transformers and `llmctl complete -m hf:OUT`
load it as it is), into a hidden folder beside the target that is renamed only when complete.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmctl.core.errors import MissingDependencyError, UsageError
from llmctl.providers.hf.provider import quiet_libraries

METHODS = ("int8", "nf4", "int8-bnb")
_DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class HFJob:
    source: str
    method: str
    output: str | None = None
    force: bool = False
    double_quant: bool = False
    compute_dtype: str = "float32"


@dataclass
class HFQuantResult:
    source: Path
    output: Path
    method: str
    source_bytes: int
    output_bytes: int
    seconds: float

    def record(self) -> dict[str, Any]:
        return {"source": str(self.source), "output": str(self.output), "method": self.method,
                "source_bytes": self.source_bytes, "output_bytes": self.output_bytes,
                "compression": round(self.source_bytes / max(self.output_bytes, 1), 4),
                "seconds": round(self.seconds, 3)}


def _weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def quantization_config(job: HFJob) -> Any:
    """The transformers config object for the method; a clear error where it cannot be built here."""
    quiet_libraries()
    if job.method == "int8":
        try:
            from torchao.quantization import Int8WeightOnlyConfig
        except ImportError:
            raise MissingDependencyError("torchao", "quantize") from None
        from transformers import TorchAoConfig

        return TorchAoConfig(quant_type=Int8WeightOnlyConfig())
    import torch
    from transformers import BitsAndBytesConfig

    bnb_problem = bitsandbytes_problem(job.method)
    if bnb_problem:
        raise UsageError(bnb_problem)
    if job.compute_dtype not in _DTYPES:
        raise UsageError(f"--compute-dtype must be one of {', '.join(_DTYPES)}, not {job.compute_dtype!r}")
    if job.method == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_use_double_quant=job.double_quant,
                                  bnb_4bit_compute_dtype=getattr(torch, job.compute_dtype))
    return BitsAndBytesConfig(load_in_8bit=True)


def bitsandbytes_problem(method: str) -> str | None:
    """Why bitsandbytes cannot run `method` on this machine, or None when a small trial works."""
    try:
        import bitsandbytes as bnb
        import torch
    except ImportError:
        raise MissingDependencyError("bitsandbytes", "quantize") from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        weights = torch.randn(64, 64)
        if method == "nf4":
            packed, state = bnb.functional.quantize_4bit(weights.to(device), quant_type="nf4")
            bnb.functional.dequantize_4bit(packed, state)
        else:
            layer = bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False).to(device)
            layer(torch.randn(2, 64, device=device))
    except Exception as exc:  # a missing backend shows up as any of several errors
        return (f"bitsandbytes {getattr(bnb, '__version__', '?')} cannot run {method} on this machine "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); it needs a CUDA GPU or a "
                f"bitsandbytes build with a CPU backend for {method}; --method int8 (torchao) runs on any CPU")
    return None


def quantize_hf(job: HFJob) -> HFQuantResult:
    """Quantize the folder `job.source` with `job.method` into `job.output` (default: beside it)."""
    if job.method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, not {job.method!r}")
    from llmctl.quantize.plan import resolve_source

    source = resolve_source(job.source)
    if not (source.is_dir() and (source / "config.json").is_file()):
        raise UsageError(f"{job.source}: --to hf needs a Hugging Face model folder (with config.json)")
    if not any(source.glob("*.safetensors")):
        raise UsageError(f"{source}: no safetensors weights to quantize")
    target = Path(job.output) if job.output else Path.cwd() / f"{source.name}-{job.method}"
    if target.exists() and not job.force:
        raise UsageError(f"{target}: already exists (use --force to overwrite it)")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target}: is a file; --to hf writes a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    needed = _weights_bytes(source)  # an int8/nf4 copy is smaller than the original
    free = shutil.disk_usage(target.parent).free
    if free < needed:
        raise UsageError(f"{target.parent}: not enough free disk: about {needed / 2**20:.0f} MiB needed, "
                         f"{free / 2**20:.0f} MiB free")
    config = quantization_config(job)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        _load_and_save(source, staging, config)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return HFQuantResult(source, target, job.method, _weights_bytes(source), _weights_bytes(target),
                         time.perf_counter() - started)


def _load_and_save(source: Path, staging: Path, config: Any) -> None:
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    model_config = AutoConfig.from_pretrained(source)
    if getattr(model_config, "quantization_config", None):
        raise UsageError(f"{source}: is already quantized ({model_config.quantization_config.get('quant_method')})")
    architectures = getattr(model_config, "architectures", None) or []
    loader = AutoModelForCausalLM if any(a.endswith("ForCausalLM") for a in architectures) else (
        AutoModelForMaskedLM if any(a.endswith("ForMaskedLM") for a in architectures) else AutoModel)
    device_map = "cuda" if torch.cuda.is_available() and config.quant_method != "torchao" else "cpu"
    try:
        model = loader.from_pretrained(source, quantization_config=config, dtype=torch.float32,
                                       device_map=device_map, use_safetensors=True)
    except (ValueError, RuntimeError, ImportError) as exc:
        raise UsageError(f"{source}: transformers could not quantize it: {' '.join(str(exc).split())[:300]}") from None
    model.save_pretrained(staging, safe_serialization=True)
    try:
        AutoTokenizer.from_pretrained(source).save_pretrained(staging)
    except (OSError, ValueError):
        pass  # a folder without a tokenizer stays without one
    for extra in ("generation_config.json", "chat_template.jinja"):
        if (source / extra).is_file() and not (staging / extra).exists():
            shutil.copy2(source / extra, staging / extra)
