"""A task command built from (spec, job, renderer, metrics): classify, summarize, ner, and any task added after.

A task command parses its own options into its spec, then hands the rest to `run_task`:

    run_task(flags, NerJob(spec), TaskView(render=_render, score=_score, metric_lines=_metric_lines), gold=gold)

which reads the inputs, opens the models, runs the session and draws its outcome: one input shown
as the task draws it (per model), a batch of JSONL records (with --gold metrics per model), or an estimate.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmctl.cli.model_command import ModelFlags
from llmctl.cli.run_command import finish, model_names, perform
from llmctl.cli.run_render import estimate_output
from llmctl.core.inputs import InputItem, collect_inputs
from llmctl.core.output import Output
from llmctl.run.jobs import Job
from llmctl.run.outcome import Batch, Estimated, Plan, Single
from llmctl.run.session import Session
from llmctl.tasks.gold import Scorer, gold_values, model_metrics, records_in_file

#: draws one record for a person: (output, the input text, the record)
Render = Callable[[Output, str, dict[str, Any]], None]
MetricLines = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class TaskView:
    """How a task is shown: one record drawn for a person, and (with --gold) its metrics."""

    render: Render
    score: Scorer | None = None
    metric_lines: MetricLines | None = None
    #: refuses gold answers of the wrong shape (exit 2) before anything is sent
    check_gold: Callable[[list[Any], list[InputItem]], None] | None = None


@dataclass(frozen=True)
class TaskRun:
    """What a task runs on: the model names and the inputs read; `batch` when there is more than one text."""

    names: list[str]
    items: list[InputItem]
    batch: bool


def run_task(flags: ModelFlags, job: Job | Callable[[TaskRun], Job], view: TaskView, *,
             gold: str | None = None) -> None:
    """Read the inputs, open the models, run the task's job and draw what came of it.

    `job` may be built from the run (what summarize's progress line needs to know)."""
    out, inputs = flags.out, flags.inputs
    assert inputs is not None, "a task command is made with model_command(task=True)"
    settings = flags.run_options()
    names = model_names(inputs.model, inputs.models_file, "complete")
    items = collect_inputs(inputs.text, inputs.file, inputs.jsonl, inputs.field, join_args=True)
    run = TaskRun(names, items, batch=inputs.jsonl is not None or len(items) > 1)
    answers = gold_values(items, gold, inputs.jsonl) if gold is not None else None
    if answers is not None and view.check_gold is not None:
        view.check_gold(answers, items)
    session = flags.session(job if isinstance(job, Job) else job(run), names)
    plan = Plan(estimate=flags.run.estimate, single=not run.batch and not out.json_mode)
    outcome = perform(out, session, items, plan, settings)
    if isinstance(outcome, Estimated):
        estimate_output(out, outcome.estimates)
        return
    if isinstance(outcome, Single):
        _rendered(out, session, items[0], outcome, view.render)
        return
    assert isinstance(outcome, Batch)  # a task plans no compare table and no provider batch
    kept = outcome.records
    if answers is not None and view.score is not None:
        if settings.output:
            kept = records_in_file(settings.output, items)
        for target in session.targets:
            metrics = model_metrics(target.ref.label, target.provider.local, answers, kept, view.score)
            _show_metrics(out, target.ref.label, len(items), metrics, view.metric_lines)
    finish(out, outcome.report)


def _rendered(out: Output, session: Session, item: InputItem, outcome: Single, render: Render) -> None:
    several = len(session.targets) > 1
    for label in session.labels:
        record = outcome.records.get(label)
        if record is None:
            continue
        if several:
            out.line(f"── {label}")
        if record["error"] is not None:
            if not several:
                raise outcome.report.failures[-1]
            out.line(f"error: {record['error']['message']}")
            continue
        render(out, item.text, record)
    finish(out, outcome.report)


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


__all__ = ["TaskRun", "TaskView", "run_task"]
