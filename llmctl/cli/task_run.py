"""Running classify/summarize/ner over inputs and models: records in input order, --gold metrics, exit 4.

The tasks are library functions of one (provider, model, text); this module only feeds them through
the batch runner, builds the records and reports, so the run layer can take its place.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmctl.cli.backend import cost_of, show_warnings, summary_line, warn_unknown_price
from llmctl.core.batch import run_batch
from llmctl.core.errors import InputError, LlmctlError, ProviderError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.output import Output
from llmctl.core.usage import Usage
from llmctl.providers.base import ModelRef, Provider
from llmctl.providers.registry import default_model_name, get_provider, resolve_model
from llmctl.tasks.result import InvalidAnswerError, TaskResult

RunOne = Callable[[Provider, ModelRef, str], TaskResult]
RunMany = Callable[[Provider, ModelRef, list[str]], list[TaskResult]]


@dataclass
class TaskJob:
    """One command's task: how to check a model, run one text (or many), show a result, score gold."""

    check: Callable[[Provider, ModelRef], None]
    run_one: RunOne
    render: Callable[[Output, str, dict[str, Any]], None]
    run_many: Callable[[Provider, ModelRef], RunMany | None] | None = None
    gold_field: str | None = None
    score_gold: Callable[[list[Any], list[dict[str, Any] | None]], dict[str, Any]] | None = None
    show_metrics: Callable[[dict[str, Any]], list[str]] | None = None
    progress: Callable[[str], None] | None = None


def gold_values(items: list[InputItem], name: str, jsonl: str | None) -> list[Any]:
    """The gold answers of a --jsonl batch; records that lack the field are named by line."""
    if jsonl is None:
        raise UsageError("--gold needs a --jsonl batch whose records hold the gold answers")
    missing = [item.line for item in items if item.fields.get(name) is None]
    if missing:
        lines = ", ".join(str(n) for n in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(f"--gold {name}: {len(missing)} of {len(items)} records in {items[0].source} lack it "
                         f"(line{'s' if len(missing) > 1 else ''} {lines})")
    return [item.fields[name] for item in items]


def open_task_model(out: Output, name: str | None, options: dict[str, Any], base_url: str | None,
                    check: Callable[[Provider, ModelRef], None]) -> tuple[ModelRef, Provider]:
    ref = resolve_model(name or default_model_name(purpose="complete"), base_url=base_url)
    provider = get_provider(ref, options)
    check(provider, ref)
    with out.spinner(f"loading {ref.label}"):
        provider.load(ref)
    show_warnings(out, provider)
    return ref, provider


def _record(ref: ModelRef, provider: Provider, result: TaskResult, seconds: float) -> dict[str, Any]:
    return {"model": ref.label, **result.fields, "calls": result.calls, "usage": result.usage.to_json(),
            "cost": cost_of(ref, provider, result.usage).to_json(), "latency_ms": round(seconds * 1000, 1)}


def _failed(ref: ModelRef, provider: Provider, error: BaseException) -> dict[str, Any]:
    message = error.one_line() if isinstance(error, LlmctlError) else str(error)
    usage = getattr(error, "usage", None) if isinstance(error, InvalidAnswerError) else None
    return {"model": ref.label, "calls": getattr(error, "calls", None),
            "usage": usage.to_json() if usage else None,
            "cost": cost_of(ref, provider, usage).to_json() if usage else None, "latency_ms": None,
            "error": {"type": type(error).__name__, "message": message}}


def run_task(out: Output, job: TaskJob, models: list[str | None], items: list[InputItem], *, batch: bool,
             options: dict[str, Any], base_url: str | None, concurrency: int, gold: list[Any] | None) -> None:
    failed_total = 0
    for name in models:
        ref, provider = open_task_model(out, name, options, base_url, job.check)
        if not batch:
            text = items[0].text
            started = time.perf_counter()
            result = job.run_one(provider, ref, text)
            seconds = time.perf_counter() - started
            show_warnings(out, provider)
            record = _record(ref, provider, result, seconds)
            if out.json_mode:
                out.record(record)
            else:
                job.render(out, text, record)
            cost = cost_of(ref, provider, result.usage)
            warn_unknown_price(out, ref, cost)
            calls = f" · {result.calls} call{'s' if result.calls != 1 else ''}"
            out.summary(summary_line(ref, result.usage, cost, seconds) + calls)
            continue
        failed_total += _run_batch(out, job, ref, provider, items, concurrency, gold)
    if failed_total:
        raise ProviderError(f"{failed_total} records failed; see their `error` fields")


def _run_batch(out: Output, job: TaskJob, ref: ModelRef, provider: Provider, items: list[InputItem],
               concurrency: int, gold: list[Any] | None) -> int:
    limit = provider.max_concurrency
    workers = min(concurrency, limit) if limit else concurrency
    records: list[dict[str, Any] | None] = [None] * len(items)
    totals: dict[str, Any] = {"usage": Usage(0), "failed": 0}
    started = time.perf_counter()

    def deliver(index: int, result: tuple[TaskResult, float] | None, error: BaseException | None) -> None:
        item = items[index]
        if result is not None:
            task, seconds = result
            record = {**item.fields, **_record(ref, provider, task, seconds), "error": None}
            totals["usage"] = totals["usage"] + task.usage
        else:
            assert error is not None
            if isinstance(error, KeyboardInterrupt) or not isinstance(error, Exception):
                raise error
            totals["failed"] += 1
            record = {**item.fields, **_failed(ref, provider, error)}
        records[index] = record
        out.record(record)
        if job.progress is not None:
            job.progress(f"{ref.label}: {index + 1}/{len(items)}")

    many = job.run_many(provider, ref) if job.run_many is not None else None
    if many is not None:
        # A batched backend (a classification head): blocks of texts in one call each.
        block = 64
        for first in range(0, len(items), block):
            part = items[first:first + block]
            t0 = time.perf_counter()
            try:
                results = many(provider, ref, [i.text for i in part])
            except Exception as exc:  # the whole block fails alike
                for k in range(len(part)):
                    deliver(first + k, None, exc)
                continue
            each = (time.perf_counter() - t0) / len(part)
            for k, task in enumerate(results):
                deliver(first + k, (task, each), None)
    else:
        def work(item: InputItem) -> tuple[TaskResult, float]:
            t0 = time.perf_counter()
            return job.run_one(provider, ref, item.text), time.perf_counter() - t0

        run_batch(items, work, concurrency=workers, on_result=deliver)
    show_warnings(out, provider)
    usage: Usage = totals["usage"]
    cost = cost_of(ref, provider, usage)
    failed = int(totals["failed"])
    line = summary_line(ref, usage, cost, time.perf_counter() - started)
    out.summary(f"{line} · {len(items) - failed}/{len(items)} ok")
    if gold is not None and job.score_gold is not None:
        _report_metrics(out, job, ref, provider, gold, records)
    return failed


def _report_metrics(out: Output, job: TaskJob, ref: ModelRef, provider: Provider, gold: list[Any],
                    records: list[dict[str, Any] | None]) -> None:
    from llmctl.tasks.metrics import cost_metrics

    assert job.score_gold is not None
    answered = [r if r is not None and r.get("error") is None else None for r in records]
    metrics = job.score_gold(gold, answered)
    costs = [Decimal(str(r["cost"]["total"])) if r and r.get("cost") and r["cost"]["total"] is not None else None
             for r in records]
    latencies = [r.get("latency_ms") if r else None for r in records]
    metrics.update(cost_metrics(costs, latencies, provider.local))
    if out.json_mode:
        out.record({"model": ref.label, "metrics": metrics})
        return
    lines = [f"── {ref.label} · {len(records)} records against gold ──"]
    lines.extend(job.show_metrics(metrics) if job.show_metrics else [])
    cost = "local (0)" if metrics["local"] else ("unknown" if metrics["cost"] is None else f"${metrics['cost']:g}")
    per = "" if metrics["cost_per_1000"] is None else f" · ${metrics['cost_per_1000']:g} per 1,000"
    lines.append(f"cost {cost}{per} · mean latency {metrics['mean_latency_ms']} ms")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
