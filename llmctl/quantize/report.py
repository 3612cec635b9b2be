"""The quantize report: one record per output, the table's rows, and the warnings worth a line."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llmctl.quantize.evaluate import EvalResult, top1_agreement
from llmctl.quantize.gguf_quant import QuantizeResult

COLUMNS = ["type", "size_mib", "bits_per_weight", "compression", "fallback_tensors", "seconds",
           "perplexity", "ppl_change", "top1_agreement", "gen_tok_s", "output"]
EVAL_COLUMNS = {"perplexity", "ppl_change", "top1_agreement", "gen_tok_s"}


@dataclass
class ReportRow:
    result: QuantizeResult
    evaluation: EvalResult | None = None
    source_eval: EvalResult | None = None

    @property
    def ppl_rise(self) -> float | None:
        if self.evaluation is None or self.source_eval is None:
            return None
        return self.evaluation.perplexity / self.source_eval.perplexity - 1.0

    def record(self) -> dict[str, Any]:
        r = self.result
        data: dict[str, Any] = {
            "source": str(r.source), "output": str(r.output), "type": r.type,
            "source_bytes": r.source_bytes, "output_bytes": r.output_bytes,
            "source_bits_per_weight": round(r.source_bpw, 4), "bits_per_weight": round(r.output_bpw, 4),
            "compression": round(r.compression, 4), "fallback_tensors": r.fallback_tensors,
            "tensor_types": r.tensor_types, "seconds": round(r.seconds, 3),
        }
        if r.metadata:
            data["metadata_written"] = r.metadata
        if self.evaluation is not None and self.source_eval is not None:
            src, ev = self.source_eval, self.evaluation
            data["eval"] = {
                "scored_tokens": ev.scored_tokens,
                "source_perplexity": round(src.perplexity, 4), "perplexity": round(ev.perplexity, 4),
                "ppl_change": round(self.ppl_rise or 0.0, 4),
                "top1_agreement": round(top1_agreement(src, ev), 4),
                "source_gen_tokens_per_s": round(src.gen_tokens_per_s, 2),
                "gen_tokens_per_s": round(ev.gen_tokens_per_s, 2),
                "eval_tokens_per_s": round(ev.eval_tokens_per_s, 1),
            }
        return data

    def cells(self, with_eval: bool) -> list[Any]:
        r = self.result
        cells: list[Any] = [r.type, f"{r.output_bytes / 2**20:.1f}", f"{r.output_bpw:.2f}", f"{r.compression:.2f}x",
                            r.fallback_tensors, f"{r.seconds:.1f}"]
        if with_eval:
            if self.evaluation is not None and self.source_eval is not None:
                cells += [f"{self.evaluation.perplexity:.3f}", f"{(self.ppl_rise or 0.0) * 100:+.1f}%",
                          f"{top1_agreement(self.source_eval, self.evaluation) * 100:.1f}%",
                          f"{self.evaluation.gen_tokens_per_s:.1f}"]
            else:
                cells += ["", "", "", ""]
        return cells + [str(r.output)]


def source_cells(source_bytes: int, source_bpw: float, source_eval: EvalResult | None) -> list[Any]:
    """The first row: the source itself, so every change in the table reads against it."""
    cells: list[Any] = ["(source)", f"{source_bytes / 2**20:.1f}", f"{source_bpw:.2f}", "1.00x", "", ""]
    if source_eval is not None:
        cells += [f"{source_eval.perplexity:.3f}", "", "100.0%", f"{source_eval.gen_tokens_per_s:.1f}"]
    return cells + [""]


def columns(with_eval: bool) -> list[str]:
    return [c for c in COLUMNS if with_eval or c not in EVAL_COLUMNS]


def warnings_for(row: ReportRow, max_ppl_rise: float) -> list[str]:
    """A line when a re-quantized output outgrew its source, and when perplexity rose past the threshold,
    naming the likely cause."""
    r = row.result
    lines = []
    if r.requantized and r.output_bytes > r.source_bytes:
        lines.append(f"{r.type}: the output is larger than its already quantized source "
                     f"({r.output_bytes / 2**20:.1f} MiB against {r.source_bytes / 2**20:.1f} MiB): a larger type "
                     "cannot win back what the source lost, it only takes more space; quantize the original "
                     "f16/f32 weights instead, or choose a smaller type")
    rise = row.ppl_rise
    if rise is None or (not math.isnan(rise) and rise <= max_ppl_rise):
        return lines
    if r.fallback_tensors:
        cause = (f"{r.fallback_tensors} tensors fell back to other types because their rows do not fit "
                 f"{r.type}'s blocks (tensor types: {', '.join(f'{k}={v}' for k, v in r.tensor_types.items())}); "
                 "a type with 32-weight blocks (q8_0, q5_0, q4_0) may fit this model better")
    elif r.output_bpw < 4.0:
        cause = f"{r.output_bpw:.2f} bits per weight is too few for a model this small"
    else:
        cause = "this model is sensitive to quantization at this size; try a larger type"
    return [*lines,
            f"{r.type}: perplexity rose {rise * 100:.0f}% (more than {max_ppl_rise * 100:.0f}%): likely cause: {cause}"]
