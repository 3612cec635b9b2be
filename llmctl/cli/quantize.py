"""`llmctl quantize`: GGUF re-quantization, HF -> GGUF conversion, HF in-framework quantization."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.completion import complete_quant_types
from llmctl.cli.options import AllowPickleOpt, FormatOpt, JsonOpt, QuietOpt
from llmctl.core.errors import UsageError
from llmctl.core.output import Output


def _progress_factory(out: Output) -> Any:
    """Per type: a progress callback writing to stderr (a bar on a terminal, a few lines otherwise)."""

    def for_type(type_name: str) -> Any:
        shown = {"step": -1}

        def on_progress(done: int, total: int, name: str) -> None:
            if out.quiet:
                return
            if total <= 0:  # the converter does not say how many tensors are coming
                if sys.stderr.isatty():
                    sys.stderr.write(f"\r{type_name}: {done} tensors {name[:40]:<40}")
                    sys.stderr.flush()
                elif done % 100 == 1:
                    out.info(f"{type_name}: {done} tensors")
                return
            if sys.stderr.isatty():
                width = 30
                filled = width * done // max(total, 1)
                sys.stderr.write(f"\r{type_name}: [{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                                 f"{name[:40]:<40}")
                if done == total:
                    sys.stderr.write("\n")
                sys.stderr.flush()
                return
            step = 4 * done // max(total, 1)
            if step != shown["step"]:
                shown["step"] = step
                out.info(f"{type_name}: {done}/{total} tensors")

        return on_progress

    return for_type


def _list_types(out: Output) -> None:
    from llmctl.quantize.types import available_types

    types = available_types()
    if out.json_mode:
        for t in types:
            out.record({"type": t.name, "description": t.description, "bits_per_weight": round(t.bits_per_weight, 4),
                        "block_size": t.block_size, "needs_imatrix": t.needs_imatrix, "ftype": t.ftype})
        return
    out.table(["type", "bits_per_weight", "block_size", "needs_imatrix", "description"],
              [[t.name, f"{t.bits_per_weight:.2f}", t.block_size, "yes" if t.needs_imatrix else "no", t.description]
               for t in types], right_align=("bits_per_weight", "block_size"))


@guarded
def quantize_command(
    ctx: typer.Context,
    source: Annotated[Optional[str], typer.Argument(  # noqa: UP045
        help="A GGUF file, an HF model folder, or a local model name (smollm2).", show_default=False)] = None,
    type_: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--type", "-t", help="Target type(s), comma-separated: q8_0,q4_k_m (see --list).", show_default=False,
        autocompletion=complete_quant_types)] = None,
    output: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--output", "-o", help="Output file (one type) or folder (several types). Without it: "
        "SOURCE.TYPE.gguf in the current folder, SOURCE being the source's file name less .gguf or its folder's "
        "name (--to hf: the folder SOURCE-METHOD).", show_default=False)] = None,
    to: Annotated[str, typer.Option("--to", help="Output format: gguf, or hf (quantized in transformers).")] = "gguf",
    method: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--method", help="With --to hf: int8 (torchao, CPU), nf4 or int8-bnb (bitsandbytes).",
        show_default=False)] = None,
    list_types: Annotated[bool, typer.Option("--list", help="List every GGUF type and exit.")] = False,
    threads: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--threads", help="Threads for quantizing and evaluating (default: all cores).", show_default=False)] = None,
    allow_requantize: Annotated[bool, typer.Option(
        "--allow-requantize", help="Quantize a source that is already quantized (compounds the loss).")] = False,
    imatrix: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--imatrix", help="Importance matrix file (llama-imatrix output); needed for the lowest-bit types.",
        show_default=False)] = None,
    leave_output_tensor: Annotated[bool, typer.Option(
        "--leave-output-tensor", help="Keep output.weight unquantized (larger, better).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing outputs.")] = False,
    allow_pickle: AllowPickleOpt = False,
    eval_text: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--eval-text", help="Measure perplexity, top-1 agreement and speed before/after on this text file.",
        show_default=False)] = None,
    eval_ctx: Annotated[int, typer.Option("--eval-ctx", help="Context window of the perplexity pass.")] = 256,
    eval_stride: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--eval-stride", help="Tokens between perplexity windows (default: the context, no overlap).",
        show_default=False)] = None,
    max_ppl_rise: Annotated[float, typer.Option(
        "--max-ppl-rise", help="Warn when perplexity rises by more than this percentage.")] = 25.0,
    double_quant: Annotated[bool, typer.Option(
        "--double-quant", help="nf4: quantize the quantization constants too.")] = False,
    compute_dtype: Annotated[str, typer.Option(
        "--compute-dtype", help="nf4/int8-bnb: dtype of the matrix products (float32, bfloat16, float16).")]
        = "float32",
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    table_format: FormatOpt = None,
) -> None:
    """Make a model smaller and say what it cost: size, bits/weight, perplexity, agreement, speed."""
    out = make_output(ctx, json_mode=json_mode, quiet=quiet, table_format=table_format)
    if list_types:
        _list_types(out)
        return
    if source is None:
        raise UsageError("give a SOURCE model (a GGUF file or an HF folder), or --list")
    if to == "hf":
        from llmctl.quantize.hf_quant import HFJob, quantize_hf

        if not method:
            raise UsageError("--to hf needs --method int8, nf4 or int8-bnb")
        if type_ or eval_text or imatrix:
            raise UsageError("--type, --imatrix and --eval-text are for GGUF outputs; --to hf takes --method")
        if allow_pickle:
            raise UsageError("--allow-pickle is for converting to GGUF; --to hf quantizes safetensors folders")
        with out.spinner(f"quantizing {source} ({method})"):
            result = quantize_hf(HFJob(source=source, method=method, output=output, force=force,
                                       double_quant=double_quant, compute_dtype=compute_dtype))
        record = result.record()
        if out.json_mode:
            out.record(record)
        else:
            out.table(["method", "size_mib", "compression", "seconds", "output"],
                      [[record["method"], f"{record['output_bytes'] / 2**20:.1f}", f"{record['compression']:.2f}x",
                        f"{record['seconds']:.1f}", record["output"]]])
        return
    if to != "gguf":
        raise UsageError(f"--to must be gguf or hf, not {to!r}")
    if method:
        raise UsageError("--method is for --to hf; GGUF types are chosen with --type")
    if not type_:
        raise UsageError("--type is required (see llmctl quantize --list)")
    if max_ppl_rise < 0:
        raise UsageError("--max-ppl-rise must be a percentage of 0 or more")

    from llmctl.quantize.plan import GGUFJob, run_gguf_job
    from llmctl.quantize.report import columns, source_cells, warnings_for
    from llmctl.quantize.types import parse_types

    job = GGUFJob(source=source, types=parse_types(type_), output=output, threads=threads,
                  allow_requantize=allow_requantize, imatrix=imatrix, leave_output_tensor=leave_output_tensor,
                  force=force, eval_text=eval_text, eval_context=eval_ctx, eval_stride=eval_stride,
                  allow_pickle=allow_pickle)
    report = run_gguf_job(job, on_progress=_progress_factory(out), on_stage=out.info)
    with_eval = report.source_eval is not None
    for row in report.rows:
        for line in warnings_for(row, max_ppl_rise / 100):
            out.warn(line)
    if out.json_mode:
        for row in report.rows:
            out.record(row.record())
        return
    rows = [source_cells(report.source_bytes, report.source_bpw, report.source_eval)]
    rows += [row.cells(with_eval) for row in report.rows]
    out.table(columns(with_eval), rows, right_align=("size_mib", "bits_per_weight", "compression", "seconds",
                                                      "perplexity", "ppl_change", "top1_agreement", "gen_tok_s"))
