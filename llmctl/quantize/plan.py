"""One `quantize` call end to end: resolve the source, name the outputs, quantize each type, evaluate."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from llmctl.core.errors import UsageError
from llmctl.quantize.carried import CarriedDefaults, defaults_of
from llmctl.quantize.evaluate import DEFAULT_CONTEXT, EvalResult, evaluate
from llmctl.quantize.gguf_quant import ProgressFn, QuantizeResult, check_target, quantize_gguf
from llmctl.quantize.report import ReportRow
from llmctl.quantize.tensors import TensorTable, read_tensor_table
from llmctl.quantize.types import QuantType

#: Types an HF folder is converted to directly (llama.cpp's converter); the rest are quantized from f16.
CONVERTER_TYPES = ("f32", "f16", "bf16")


@dataclass
class GGUFJob:
    """What the user asked for; the defaults are the CLI's."""

    source: str
    types: list[QuantType]
    output: str | None = None
    threads: int | None = None
    allow_requantize: bool = False
    imatrix: str | None = None
    leave_output_tensor: bool = False
    force: bool = False
    eval_text: str | None = None
    eval_context: int = DEFAULT_CONTEXT
    eval_stride: int | None = None
    to: str = "gguf"
    #: an HF folder with only pytorch_model.bin may be converted
    allow_pickle: bool = False


@dataclass
class JobReport:
    source: Path
    source_bytes: int
    source_bpw: float
    rows: list[ReportRow] = field(default_factory=list)
    source_eval: EvalResult | None = None


def resolve_source(name: str) -> Path:
    """A path, or a model name llmctl knows (`smollm2`, `gguf:...`, `hf:...`) that stands for a local file."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    from llmctl.providers.registry import expand_local_path, provider_class, resolve_model

    try:
        ref = resolve_model(name)
    except UsageError:
        raise UsageError(f"{name}: no such file or folder, and not a local model name") from None
    if not provider_class(ref.kind).quantizable:
        raise UsageError(f"{name}: is a {ref.provider} model; quantize needs a local GGUF file or HF folder")
    resolved = expand_local_path(ref.model)
    if not resolved.exists():
        if resolved == path or str(resolved) == name:
            raise UsageError(f"{name}: no such file or folder")
        raise UsageError(f"{name}: {resolved} does not exist")
    return resolved


def output_paths(source: Path, types: list[QuantType], output: str | None, suffix: str = ".gguf") -> list[Path]:
    """One target per type: -o FILE for one type, -o DIR (or the working folder) for several."""
    stem = source.stem if source.is_file() else source.name
    if output is None:
        return [Path.cwd() / f"{stem}.{t.name}{suffix}" for t in types]
    target = Path(output).expanduser()
    if len(types) == 1 and not target.is_dir():
        return [target]
    if target.suffix == suffix and not target.is_dir():
        raise UsageError(f"-o {output}: several types need -o to name a folder, one file per type")
    target.mkdir(parents=True, exist_ok=True)
    return [target / f"{stem}.{t.name}{suffix}" for t in types]


@contextmanager
def _scratch(near: Path) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=".llmctl-quantize-", dir=near))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_gguf_job(job: GGUFJob, *, on_progress: Callable[[str], ProgressFn] | None = None,
                 on_stage: Callable[[str], None] | None = None) -> JobReport:
    """Quantize `job.source` (a GGUF file, or an HF folder converted first) to every type asked."""
    source = resolve_source(job.source)
    targets = output_paths(source, job.types, job.output)
    for target in targets:
        check_target(target, force=job.force, source=source if source.is_file() else None)
    text = None
    if job.eval_text is not None:
        from llmctl.quantize.evaluate import read_eval_text

        text = read_eval_text(job.eval_text)
    stage = on_stage or (lambda _msg: None)
    carried = defaults_of(job.source)
    if carried.metadata:
        direct = [t.name for t in job.types if source.is_dir() and t.name in CONVERTER_TYPES]
        verb = "comes" if len(direct) == 1 else "come"
        stage(carried.line() + (f"; {', '.join(direct)} {verb} straight from the converter, without them"
                                 if direct else ""))
    if source.is_dir():
        return _run_from_hf(job, source, targets, text, on_progress, stage, carried)
    table = read_tensor_table(source)
    report = JobReport(source, table.file_size, table.bits_per_weight)
    _quantize_all(job, source, table, list(zip(job.types, targets, strict=True)), report, text, on_progress, stage,
                  carried)
    return report


def _run_from_hf(job: GGUFJob, source: Path, targets: list[Path], text: str | None,
                 on_progress: Callable[[str], ProgressFn] | None, stage: Callable[[str], None],
                 carried: CarriedDefaults) -> JobReport:
    """Float types straight from llama.cpp's converter; the rest quantized from its f16 output.
    (The converter's own outputs do not get an alias's defaults: only llama.cpp's quantizer writes them.)"""
    from llmctl.quantize.convert import convert_hf_to_gguf

    pairs = list(zip(job.types, targets, strict=True))
    direct = [(t, p) for t, p in pairs if t.name in CONVERTER_TYPES]
    quantized = [(t, p) for t, p in pairs if (t, p) not in direct]
    # An f16 output asked for is also the file the other types are quantized from.
    direct.sort(key=lambda pair: pair[0].name != "f16")
    with _scratch(targets[0].parent) as scratch:
        gguf_source = None
        if (quantized or text is not None) and not (direct and direct[0][0].name == "f16"):
            stage(f"converting {source} to an f16 GGUF")
            gguf_source = scratch / f"{source.name}.f16.gguf"
            convert_hf_to_gguf(source, gguf_source, "f16", on_tensor=_tensor_counter(on_progress, "convert"),
                               allow_pickle=job.allow_pickle)
        rows: dict[str, ReportRow] = {}
        report: JobReport | None = None
        for qtype, target in direct:
            stage(f"converting {source} to {qtype.name}")
            converted = convert_hf_to_gguf(source, target, qtype.name,
                                           on_tensor=_tensor_counter(on_progress, qtype.name),
                                           allow_pickle=job.allow_pickle)
            table = read_tensor_table(target)
            report = report or _hf_report(source, table)
            if qtype.name == "f16" and gguf_source is None and (quantized or text is not None):
                gguf_source = target
            rows[qtype.name] = ReportRow(QuantizeResult(
                source=source, output=target, type=qtype.name, source_bytes=report.source_bytes,
                output_bytes=table.file_size, source_bpw=report.source_bpw, output_bpw=table.bits_per_weight,
                fallback_tensors=0, seconds=converted.seconds, tensor_types=dict(table.type_counts().most_common())))
        if gguf_source is not None:
            table = read_tensor_table(gguf_source)
            report = report or _hf_report(source, table)
            _quantize_all(job, gguf_source, table, quantized, report, text, on_progress, stage, carried)
            for row in report.rows:
                row.result.source = source
                row.result.source_bytes, row.result.source_bpw = report.source_bytes, report.source_bpw
                rows[row.result.type] = row
        assert report is not None
        for row in rows.values():
            if text is not None and row.evaluation is None:
                stage(f"evaluating {row.result.output.name}")
                row.evaluation = evaluate(row.result.output, text, context=job.eval_context,
                                          stride=job.eval_stride, threads=job.threads)
                row.source_eval = report.source_eval
        report.rows = [rows[t.name] for t in job.types]
    return report


def _hf_report(source: Path, converted: TensorTable) -> JobReport:
    size = _folder_bytes(source)
    return JobReport(source, size, size * 8 / max(converted.weights, 1))


def _tensor_counter(on_progress: Callable[[str], ProgressFn] | None, label: str) -> Callable[[int, str], None] | None:
    if on_progress is None:
        return None
    progress = on_progress(label)
    return lambda done, name: progress(done, 0, name)


def _quantize_all(job: GGUFJob, gguf_source: Path, table: TensorTable, pairs: list[tuple[QuantType, Path]],
                  report: JobReport, text: str | None, on_progress: Callable[[str], ProgressFn] | None,
                  stage: Callable[[str], None], carried: CarriedDefaults) -> None:
    if text is not None and report.source_eval is None:
        stage(f"evaluating {gguf_source.name}")
        report.source_eval = evaluate(gguf_source, text, context=job.eval_context, stride=job.eval_stride,
                                      threads=job.threads)
    for qtype, target in pairs:
        progress = on_progress(qtype.name) if on_progress else None
        result = quantize_gguf(gguf_source, target, qtype, threads=job.threads,
                               allow_requantize=job.allow_requantize, imatrix=job.imatrix,
                               leave_output_tensor=job.leave_output_tensor, force=job.force,
                               on_progress=progress, source_table=table, metadata=carried.metadata)
        row = ReportRow(result)
        if text is not None:
            stage(f"evaluating {target.name}")
            row.evaluation = evaluate(target, text, context=job.eval_context, stride=job.eval_stride,
                                      threads=job.threads)
            row.source_eval = report.source_eval
        report.rows.append(row)


def _folder_bytes(folder: Path) -> int:
    """The weights' size: safetensors files, else PyTorch `pytorch_model*.bin` files (what the converter reads)."""
    from llmctl.quantize.convert import weight_files

    return sum(p.stat().st_size for p in weight_files(folder))
