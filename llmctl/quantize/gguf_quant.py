"""GGUF -> GGUF through llama.cpp's own quantizer, checked before, watched during, measured after.

The quantizer runs in a child process (`quant_worker`), writing a new file in a hidden folder
beside the target (`staging`) that is renamed into place only when llama.cpp says it succeeded;
Ctrl-C kills the child and removes that folder, so a target is either whole or absent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NoReturn

from llmctl.core.errors import Interrupted, UsageError
from llmctl.quantize.staging import Staging
from llmctl.quantize.tensors import TensorTable, read_tensor_table
from llmctl.quantize.types import FLOAT_TYPES, QuantType, bits_of

#: (tensors done, tensors in all, name of the tensor being written)
ProgressFn = Callable[[int, int, str], None]


@dataclass
class QuantizeResult:
    """What one quantization gave: sizes, bits per weight, fallbacks, time, the output's type mix."""

    source: Path
    output: Path
    type: str
    source_bytes: int
    output_bytes: int
    source_bpw: float
    output_bpw: float
    fallback_tensors: int
    seconds: float
    tensor_types: dict[str, int] = field(default_factory=dict)
    #: of `seconds`, the time llama.cpp's quantizer call itself took (the rest: checks, process, report)
    quantizer_seconds: float | None = None
    #: whether the source's matrices were already quantized (--allow-requantize)
    requantized: bool = False
    #: metadata written over the source's (an alias's defaults: general.sampling.*)
    metadata: dict[str, float | int] = field(default_factory=dict)

    @property
    def compression(self) -> float:
        return self.source_bytes / max(self.output_bytes, 1)


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def estimate_output_bytes(table: TensorTable, qtype: QuantType) -> int:
    """An upper bound on the output size, for the free-disk check.

    1-D tensors (norms, biases) stay f32; a matrix gets the target type or, when its rows do not
    fit the target's blocks, a fallback that is never larger than q8_0, so each matrix is counted
    at the larger of the two.
    """
    target_bits = qtype.bits_per_weight
    total = table.header.data_offset
    for tensor in table.tensors:
        if len(tensor.shape) <= 1:
            total += tensor.elements * 4
        else:
            bits = max(target_bits, bits_of(8) or 8.5) if target_bits < 16 else target_bits
            total += int(tensor.elements * bits / 8) + 64
    return total


def check_target(output: Path, *, force: bool, source: Path | None = None) -> None:
    """The refusals that need no model: an existing target without --force, a missing folder."""
    if source is not None and output.resolve() == source.resolve():
        raise UsageError(f"{output}: the output would overwrite the source; choose another -o")
    if output.is_dir():
        raise UsageError(f"{output}: is a directory; give -o a file name")
    if output.exists() and not force:
        raise UsageError(f"{output}: already exists (use --force to overwrite it)")
    if not output.parent.is_dir():
        raise UsageError(f"{output.parent}: no such directory for the output")


def check_free_disk(folder: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise UsageError(f"{folder}: not enough free disk for {what}: about {needed / 2**20:.0f} MiB needed, "
                         f"{free / 2**20:.0f} MiB free")


def check_source(table: TensorTable, qtype: QuantType, *, allow_requantize: bool, imatrix: Path | None) -> None:
    """Refuse what llama.cpp would do badly or not at all, saying why."""
    name = table.header.path
    matrices = [t for t in table.tensors if len(t.shape) >= 2]
    if not matrices:
        raise UsageError(f"{name}: holds no weight matrices to quantize")
    quantized = [t for t in matrices if t.type_id not in FLOAT_TYPES]
    if quantized and not allow_requantize:
        kinds = ", ".join(sorted({t.type_name for t in quantized}))
        raise UsageError(f"{name}: is already quantized ({len(quantized)} of {len(matrices)} matrices are {kinds}); "
                         "quantizing it again compounds the loss: start from an f16/f32 file, or pass "
                         "--allow-requantize to do it anyway")
    if qtype.needs_imatrix and imatrix is None:
        raise UsageError(f"--type {qtype.name} needs an importance matrix (--imatrix FILE, made by llama-imatrix "
                         "on sample text); without one this type destroys the model")
    if imatrix is not None and not imatrix.is_file():
        raise UsageError(f"{imatrix}: no such importance matrix file")


def quantize_gguf(source: str | Path, output: str | Path, qtype: QuantType, *, threads: int | None = None,
                  allow_requantize: bool = False, imatrix: str | Path | None = None,
                  leave_output_tensor: bool = False, force: bool = False,
                  on_progress: ProgressFn | None = None, source_table: TensorTable | None = None,
                  metadata: Mapping[str, float | int] | None = None) -> QuantizeResult:
    """Quantize `source` to `output` as `qtype`; UsageError for bad input, Interrupted on Ctrl-C.

    `metadata` (GGUF key -> float or int) is written into the output by llama.cpp's quantizer itself,
    over the source's own values (the way an alias's defaults reach the file)."""
    src, out = Path(source), Path(output)
    imatrix_path = Path(imatrix) if imatrix is not None else None
    check_target(out, force=force, source=src)
    table = source_table or read_tensor_table(src)
    check_source(table, qtype, allow_requantize=allow_requantize, imatrix=imatrix_path)
    check_free_disk(out.parent, estimate_output_bytes(table, qtype), f"the {qtype.name} file")
    if threads is not None and threads < 1:
        raise UsageError("--threads must be at least 1")

    started = time.perf_counter()
    staging = Staging(out)
    job = {"source": str(src), "output": str(staging.file), "ftype": qtype.ftype,
           "threads": threads or default_threads(), "allow_requantize": allow_requantize,
           "leave_output_tensor": leave_output_tensor, "imatrix": str(imatrix_path) if imatrix_path else None,
           "log": str(staging.log), "metadata": dict(metadata or {})}
    fallback, outcome = 0, None
    from llmctl.quantize import quant_worker

    try:
        stream: IO[str] | None
        if quant_worker.fork_is_safe():
            pid, read_fd = quant_worker.fork_worker(job)
            stream, proc = os.fdopen(read_fd, encoding="utf-8"), None
        else:
            proc = quant_worker.spawn_worker(job)
            pid, stream = proc.pid, proc.stdout
    except BaseException:
        staging.discard()
        raise
    assert stream is not None
    try:
        with stream:
            for line in stream:
                event = json.loads(line)
                if "tensor" in event and on_progress is not None:
                    on_progress(event["tensor"], event["of"], event["name"])
                elif "fallback" in event:
                    fallback = event["fallback"]
                elif "rc" in event:
                    outcome = event
                    break  # llama.cpp has returned and closed the file; the child only exits from here
    except BaseException as exc:
        _abandon(exc, pid, proc, staging)
    if outcome is None or outcome["rc"] != 0:
        _stop(pid, proc)
        staging.discard()
        reason = (outcome or {}).get("error") or "the quantizer stopped without a word"
        raise UsageError(f"{src}: llama.cpp could not quantize it to {qtype.name}: {reason}")
    try:
        # The output is read and moved into place while the child's process is still being torn down.
        result_table = read_tensor_table(staging.file)
        staging.commit()
    except BaseException as exc:
        _abandon(exc, pid, proc, staging)
    _reap(pid, proc)
    return QuantizeResult(
        source=src, output=out, type=qtype.name, source_bytes=table.file_size, output_bytes=result_table.file_size,
        source_bpw=table.bits_per_weight, output_bpw=result_table.bits_per_weight, fallback_tensors=fallback,
        seconds=time.perf_counter() - started, tensor_types=dict(result_table.type_counts().most_common()),
        quantizer_seconds=outcome.get("seconds"), requantized=bool(table.quantized_tensors()),
        metadata=dict(metadata or {}))


def _abandon(exc: BaseException, pid: int, proc: subprocess.Popen[str] | None, staging: Staging) -> NoReturn:
    """End the child first (a child still running could create the file again), remove what it
    wrote, then raise: Ctrl-C as Interrupted (exit 130), anything else as it was."""
    _stop(pid, proc)
    staging.discard()
    if isinstance(exc, KeyboardInterrupt):
        raise Interrupted("interrupted; no output was written") from None
    raise exc


def _reap(pid: int, proc: subprocess.Popen[str] | None) -> None:
    if proc is not None:
        proc.wait()
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _stop(pid: int, proc: subprocess.Popen[str] | None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid, proc)
