"""How `llmctl embed` shows a run: vectors as JSONL, or one similarity matrix per model."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from llmctl.cli.run_command import finish, perform, show_provider_warnings
from llmctl.cli.run_render import estimate_output
from llmctl.core.inputs import InputItem
from llmctl.core.output import Output
from llmctl.core.usage import format_money
from llmctl.run.outcome import Batch, BatchJob, Estimated, Plan
from llmctl.run.records import ModelTotals
from llmctl.run.session import RunOptions, Session
from llmctl.run.similarity import cosine_matrix


def show(out: Output, session: Session, items: Sequence[InputItem], plan: Plan, options: RunOptions, *,
         similarity: bool) -> None:
    """Run the session and draw its outcome: an estimate, a batch job's records, a matrix or vectors."""
    if similarity:
        options.ordered = True
    outcome = perform(out, session, items, plan, options, print_records=not similarity,
                      shape=None if similarity else _with_index)
    if isinstance(outcome, Estimated):
        estimate_output(out, outcome.estimates)
    elif isinstance(outcome, BatchJob):
        from llmctl.cli.batch import show_batch_job

        show_batch_job(out, outcome, options.output)
    elif isinstance(outcome, Batch) and similarity:
        _similarity(out, session, items, outcome)
    elif isinstance(outcome, Batch):
        _vectors(out, session, items, outcome)


def _with_index(item: InputItem, index: int, record: dict[str, Any]) -> dict[str, Any]:
    shaped = dict(record)
    shaped["index"] = index
    return shaped


def _vectors(out: Output, session: Session, items: Sequence[InputItem], outcome: Batch) -> None:
    report = outcome.report
    if len(items) == 1 and items[0].line is None and len(session.targets) == 1 and report.failures:
        # One text, not a batch: its error decides the exit code (a 400 is 2, a 401 is 3).
        show_provider_warnings(out, session)
        raise report.failures[-1]
    finish(out, report)


def _label(item: InputItem, width: int = 40) -> str:
    text = " ".join(item.text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _model_json(label: str, items: Sequence[InputItem], found: dict[int, dict[str, Any]], totals: ModelTotals,
                matrix: list[list[float]] | None) -> dict[str, Any]:
    latency = max((r.get("latency_ms") or 0.0) for r in found.values()) if found else None
    error = next((r["error"] for r in found.values() if r.get("error")), None)
    return {"model": label, "texts": [i.text for i in items], "matrix": matrix,
            "usage": {"input_tokens": totals.usage.input_tokens, "output_tokens": 0,
                      "total_tokens": totals.usage.input_tokens, "estimated": False} if matrix else None,
            "cost": {"total": float(totals.cost) if totals.cost is not None else None,
                     "currency": totals.currency, **({"local": True} if totals.local else {})} if matrix else None,
            "latency_ms": latency, "error": error}


def _similarity(out: Output, session: Session, items: Sequence[InputItem], outcome: Batch) -> None:
    """One cosine matrix per model, then (for several models) a row per model."""
    report, kept = outcome.report, outcome.records
    by_model: dict[str, dict[int, dict[str, Any]]] = {label: {} for label in session.labels}
    for index, record in kept:
        by_model[record["model"]][index] = record
    labels = [_label(i) for i in items]
    numbers = [str(n) for n in range(1, len(items) + 1)]
    summary_rows: list[list[Any]] = []
    for label, found in by_model.items():
        totals = report.totals.by_model[label]
        complete = len(found) == len(items) and not any(r.get("error") for r in found.values())
        matrix = cosine_matrix([found[i]["embedding"] for i in range(len(items))]) if complete else None
        if out.json_mode:
            out.record(_model_json(label, items, found, totals, matrix))
            continue
        dims = found[0]["dimensions"] if complete else ""
        if matrix is not None:
            rows = [[labels[r], *(f"{v:.4f}" for v in matrix[r])] for r in range(len(items))]
            several = len(by_model) > 1
            as_tsv = out.table_format == "tsv" or (out.table_format == "auto" and not out.stdout_is_tty())
            if several and as_tsv:
                # In TSV each row names its model, so several matrices stay apart in a pipe.
                out.table(["model", "text", *numbers], [[label, *row] for row in rows], right_align=numbers)
            else:
                out.table(["text", *numbers], rows, right_align=numbers, title=label if several else None)
        money = "local" if totals.local else format_money(totals.cost if totals.cost is None else Decimal(totals.cost))
        error = next((r["error"]["message"] for r in found.values() if r.get("error")), "")
        summary_rows.append([label, dims, totals.usage.input_tokens, money if not error else "",
                             f"{totals.seconds:.2f}", f"error: {error}" if error else ""])
    if len(by_model) > 1 and not out.json_mode:
        out.table(["model", "dimensions", "tokens", "cost", "seconds", "error"], summary_rows,
                  right_align=("dimensions", "tokens", "cost", "seconds"))
    finish(out, report)

