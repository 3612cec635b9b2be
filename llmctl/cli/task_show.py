"""How classify, summarize and ner show a run: one rendered answer, JSONL records, --gold metrics."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from llmctl.cli.run_command import finish, run_batch_records, show_estimate, show_provider_warnings
from llmctl.core.inputs import InputItem
from llmctl.core.output import Output
from llmctl.run.session import RunOptions, Session
from llmctl.tasks.gold import Scorer, model_metrics, records_in_file

#: draws one record for a person: (output, the input text, the record)
Render = Callable[[Output, str, dict[str, Any]], None]
MetricLines = Callable[[dict[str, Any]], list[str]]


def run_task_command(out: Output, session: Session, items: Sequence[InputItem], options: RunOptions, *,
                     render: Render, batch: bool, estimate: bool, gold: list[Any] | None = None,
                     score: Scorer | None = None, metric_lines: MetricLines | None = None) -> None:
    """--estimate, one input shown as the task draws it (per model), or a batch of JSONL records."""
    if estimate:
        show_estimate(out, session, items)
        return
    if not batch and not options.output and not out.json_mode:
        _rendered(out, session, items[0], options, render)
        return
    report, kept = run_batch_records(out, session, items, options)
    if gold is not None and score is not None:
        if options.output:
            kept = records_in_file(options.output, items)
        for target in session.targets:
            metrics = model_metrics(target.ref.label, target.provider.local, gold, kept, score)
            _show_metrics(out, target.ref.label, len(items), metrics, metric_lines)
    finish(out, report)


def _rendered(out: Output, session: Session, item: InputItem, options: RunOptions, render: Render) -> None:
    records: dict[str, dict[str, Any]] = {}
    report = session.run([item], lambda _item, _index, record: records.__setitem__(record["model"], record),
                         options)
    show_provider_warnings(out, session)
    several = len(session.targets) > 1
    for label in session.labels:
        record = records.get(label)
        if record is None:
            continue
        if several:
            out.line(f"── {label}")
        if record["error"] is not None:
            if not several:
                raise report.failures[-1]
            out.line(f"error: {record['error']['message']}")
            continue
        render(out, item.text, record)
    finish(out, report)


def _show_metrics(out: Output, label: str, count: int, metrics: dict[str, Any],
                  metric_lines: MetricLines | None) -> None:
    if out.json_mode:
        out.record({"model": label, "metrics": metrics})
        return
    lines = [f"── {label} · {count} records against gold ──"]
    lines.extend(metric_lines(metrics) if metric_lines else [])
    cost = "local (0)" if metrics["local"] else ("unknown" if metrics["cost"] is None else f"${metrics['cost']:g}")
    per = "" if metrics["cost_per_1000"] is None else f" · ${metrics['cost_per_1000']:g} per 1,000"
    lines.append(f"cost {cost}{per} · mean latency {metrics['mean_latency_ms']} ms")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
