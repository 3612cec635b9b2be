"""Showing what the run layer produced: records, compare tables, estimates, summaries and progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmctl.core.inputs import InputItem
from llmctl.core.output import Output
from llmctl.core.usage import Usage, format_money
from llmctl.run.records import ModelTotals
from llmctl.run.runner import Report

if TYPE_CHECKING:
    from llmctl.run.estimate import ModelEstimate  # an --estimate run's; a one-shot answer never loads it


def _money(value: Decimal | float | None, local: bool = False) -> str:
    if local:
        return "local"
    if value is None:
        return "unknown"
    return format_money(Decimal(str(value)))


def summary_lines(out: Output, report: Report) -> None:
    """One stderr line per model: tokens, cost, time, how many records were fine, what the cache saved."""
    for totals in report.totals.by_model.values():
        out.summary(model_summary(totals, totals.seconds or report.seconds, time.perf_counter() - out.started))
        if totals.cost is None and not totals.local and totals.ok:
            hint = report.price_hints.get(totals.label, "add one under [prices] in the config")
            out.warn(f"no price is known for {totals.label}; cost is unknown ({hint})")


def model_summary(totals: ModelTotals, seconds: float, wall: float | None = None) -> str:
    """The stderr line of one model; its time is the command's wall time, then what load and requests took."""
    usage: Usage = totals.usage
    tokens = f"{usage.input_tokens:,} in + {usage.output_tokens:,} out tokens"
    if usage.estimated:
        tokens += " (estimated)"
    money = "local" if totals.local else format_money(totals.cost, totals.currency)
    if not totals.ok and totals.errors:
        # Nothing answered: no tokens or cost to show (a "$0" would read as a free call), the error instead.
        tokens, money = f"failed: {totals.errors[0]}", ""
    if wall is None:
        timing = f"{seconds:.2f} s"
    else:
        load = [f"load {totals.load_ms / 1000:.2f} s"] if totals.load_ms is not None else []
        timing = f"{wall:.2f} s ({', '.join([*load, f'request {seconds:.2f} s'])})"
    parts = [part for part in (totals.label, tokens, money, timing) if part]
    count = totals.ok + totals.failed
    if count != 1 or totals.failed:
        parts.append(f"{totals.ok}/{count} ok")
    if totals.cached:
        # A local model's answer costs nothing, so a cache hit saves time, not money.
        saved = "" if totals.local else f", saved {format_money(totals.saved, totals.currency)}"
        parts.append(f"{totals.cached} cached{saved}")
    return " · ".join(parts)


def compare_table(out: Output, records: Sequence[tuple[int, dict[str, Any]]], items: Sequence[InputItem]) -> None:
    """complete with several models: one row per (model, input); a failed row shows its error."""
    several_inputs = len(items) > 1
    columns = ["model", *(["input"] if several_inputs else []), "answer", "ttft_ms", "total_ms", "tokens_in",
               "tokens_out", "tokens_per_s", "cost"]
    rows: list[list[Any]] = []
    as_tsv = out.table_format == "tsv" or (out.table_format != "table" and not out.stdout_is_tty())
    for index, record in records:
        usage = record.get("usage") or {}
        cost = record.get("cost") or {}
        error = record.get("error")
        # The whole answer: a terminal's table wraps it in its cell, TSV puts it on one line.
        answer = f"error: {error['message']}" if error else (record.get("text") or "").strip()
        if as_tsv:
            answer = " ".join(answer.split())
        row: list[Any] = [record["model"]]
        if several_inputs:
            row.append(record.get("id", items[index].line or index + 1))
        row += [answer, record.get("ttft_ms") or "", record.get("latency_ms") or "",
                usage.get("input_tokens", ""), usage.get("output_tokens", ""), record.get("tokens_per_s") or "",
                "" if error else _money(cost.get("total"), bool(cost.get("local")))]
        rows.append(row)
    # On a narrow terminal the timings give way before the answer is squeezed; model names are never broken.
    out.table(columns, rows, right_align=("ttft_ms", "total_ms", "tokens_in", "tokens_out", "tokens_per_s", "cost"),
              no_wrap=("model",), droppable=("ttft_ms", "tokens_per_s", "total_ms"), wrap_at=40)


def estimate_output(out: Output, estimates: Sequence[ModelEstimate]) -> None:
    if out.json_mode:
        for estimate in estimates:
            out.record(estimate.to_json())
        return
    if len(estimates) == 1:
        out.line(estimates[0].line())
        return
    rows = []
    for e in estimates:
        share = f"{100 * e.largest_input / e.context_window:.1f}%" if e.context_window else ""
        rows.append([e.label, e.records, e.input_tokens, "unbounded" if e.unbounded else e.max_output_tokens, share,
                     _money(e.input_cost, e.local), "unbounded" if e.unbounded else _money(e.max_cost, e.local)])
    out.table(["model", "records", "input_tokens", "max_output_tokens", "context_used", "cost_min", "cost_max"],
              rows, right_align=("records", "input_tokens", "max_output_tokens", "context_used", "cost_min",
                                 "cost_max"))


class ProgressBar:
    """A bar on stderr for batches on a terminal: done/total, rate, ETA and the money spent so far."""

    def __init__(self, out: Output, total: int) -> None:
        self.enabled = total > 1 and not out.quiet and sys.stderr.isatty()
        self.total = total
        self.spent = Decimal(0)
        self._progress: Any = None
        self._task: Any = None

    @contextmanager
    def shown(self) -> Iterator[ProgressBar]:
        if not self.enabled:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[rate]}"),
                                  TimeRemainingColumn(), TextColumn("{task.fields[cost]}"),
                                  console=Console(file=sys.stderr), transient=True)
        with self._progress:
            self._task = self._progress.add_task("run", total=self.total, rate="", cost="")
            yield self

    def advance(self, record: dict[str, Any]) -> None:
        cost = (record.get("cost") or {}).get("total")
        if cost is not None and not record.get("cached"):
            self.spent += Decimal(str(cost))
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        speed = task.speed
        self._progress.update(self._task, advance=1, rate=f"{speed:.1f}/s" if speed else "",
                              cost=format_money(self.spent))
