"""One invocation of a model command: its models opened, then estimated or run with every feature around it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmctl.core.config import get_config
from llmctl.core.errors import BudgetExceededError, InputError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.usage import format_money
from llmctl.providers.base import ModelRef
from llmctl.run.budget import Budget
from llmctl.run.cache import ResponseCache, cache_enabled, model_fingerprint
from llmctl.run.estimate import ModelEstimate, estimate_run
from llmctl.run.jobs import DeltaSink, Job
from llmctl.run.outcome import Batch, Compare, Estimated, Mode, Outcome, Plan, Single
from llmctl.run.outfile import OutputFile, drop_repeated_ids
from llmctl.run.runner import Controls, RecordSink, Report, Target, open_targets, run_job
from llmctl.run.usage_log import UsageLog, logging_enabled


def read_models_file(path: str) -> list[str]:
    """One model name a line; `#` starts a comment; blank lines are skipped."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--models-file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--models-file {path}: cannot read: {exc}") from None
    names: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.split("#", 1)[0].strip()
        if name:
            names.append((number, name))
    if not names:
        raise InputError(f"--models-file {path}: no model names in it")
    from llmctl.providers.registry import resolve_model

    for number, name in names:
        try:
            resolve_model(name)
        except UsageError as exc:
            raise UsageError(f"--models-file {path} line {number}: {exc.one_line()}") from None
    return [name for _, name in names]


@dataclass
class RunOptions:
    """What the user asked of the run beyond the job itself."""

    concurrency: int = 4
    max_cost: Decimal | None = None
    output: str | None = None
    resume: bool = False
    retry_failed: bool = False
    #: inputs sharing an `id` (how -o and --resume know an input): keep the first of each, not exit 2
    dedupe: bool = False
    #: records in input order; default: yes, except with -o (completion order makes resume cheap)
    ordered: bool | None = None
    use_cache: bool = True
    on_text: DeltaSink | None = None
    warn: Callable[[str], None] = lambda message: None
    on_load: Callable[[ModelRef], AbstractContextManager[Any]] | None = None


class Session:
    """A job and its models, resolved and checked (exit 2 on a bad name), ready to estimate or run.

    `targets`: models the caller has already opened (run-local's chat), used instead of `names`."""

    def __init__(self, job: Job, names: Sequence[str], options: dict[str, Any], base_url: str | None = None, *,
                 targets: list[Target] | None = None) -> None:
        self.job = job
        self.options = options
        self.targets: list[Target] = targets if targets is not None else open_targets(names, job, options, base_url)

    @property
    def labels(self) -> list[str]:
        return [t.ref.label for t in self.targets]

    def estimate(self, items: Sequence[InputItem]) -> list[ModelEstimate]:
        return estimate_run(self.job, self.targets, items, self.options)[0]

    def description(self) -> dict[str, Any]:
        """What makes two runs the same, for -o's sidecar and --resume: command, models, settings,
        and the files of each local model (a model re-written since would mix two models' answers)."""
        files = {t.ref.label: found for t in self.targets if (found := model_fingerprint(t.ref))}
        return {"command": self.job.command, "models": self.labels, "settings": self.job.settings(),
                "model_files": files}

    def budget_for(self, items: Sequence[InputItem], skip: set[tuple[str, int]], log: UsageLog | None,
                max_cost: Decimal | None, warn: Callable[[str], None]) -> Budget | None:
        limits: list[tuple[Decimal, str]] = []
        if max_cost is not None:
            limits.append((max_cost, "--max-cost"))
        config = get_config()
        now = dt.datetime.now(dt.UTC)
        for key, start in (("daily_usd", now.strftime("%Y-%m-%d")), ("monthly_usd", now.strftime("%Y-%m-01"))):
            raw = config.run.budget(key)
            if raw is None:
                continue
            try:
                cap = Decimal(str(raw))
            except ArithmeticError:
                raise UsageError(f"[budget] {key} must be an amount in USD, not {raw!r}") from None
            if log is None:
                warn(f"the usage log is off, so [budget] {key} can only count this run's spending")
            spent = log.spent_since(start) if log is not None else Decimal(0)
            if spent >= cap:
                raise BudgetExceededError(f"[budget] {key} of {format_money(cap)} is spent "
                                          f"({format_money(spent)} logged); nothing was sent")
            limits.append((cap - spent, f"[budget] {key} (what is left of it)"))
        if not limits:
            return None
        limit, what = min(limits, key=lambda pair: pair[0])
        pending = [item if all((t.ref.label, i) not in skip for t in self.targets) else
                   InputItem("", item.source, item.line, item.fields, problem="done")
                   for i, item in enumerate(items)]
        estimates, worst = estimate_run(self.job, self.targets, pending, self.options)
        budget = Budget(limit, worst, what)
        budget.check_inputs(sum((estimate.input_cost for estimate in estimates), Decimal(0)))
        for estimate in estimates:
            if estimate.unbounded:
                # Its worst case is unknown, so no reservation could keep it under the limit.
                names = " and ".join(dict.fromkeys(name.split(" (")[0] for _, name in limits))
                raise UsageError(f"{estimate.label} has no known output limit (no max_output, no context window), "
                                 f"so {names} cannot bound what it may spend; give --max-tokens N; nothing was sent")
        return budget

    def run(self, items: Sequence[InputItem], on_record: RecordSink, options: RunOptions) -> Report:
        """Run every (model, input) pair; records go to `on_record` (and to -o) as they finish."""
        if (options.resume or options.retry_failed) and not options.output:
            flag = "--resume" if options.resume else "--retry-failed"
            raise UsageError(f"{flag} needs -o/--output FILE (the file to resume)")
        dropped = drop_repeated_ids(items, dedupe=options.dedupe, warn=options.warn)
        output = OutputFile(options.output, self.description()) if options.output else None
        skip = output.plan(items, resume=options.resume or options.retry_failed,
                           retry_failed=options.retry_failed) if output else set()
        skip |= {(label, index) for label in self.labels for index in dropped}
        log = UsageLog(warn=options.warn) if logging_enabled() else None
        if log is not None and output is not None:
            log.run = output.run_id
            if output.run_id is not None and output.resuming:
                lost = log.mark_lost(output.run_id, output.done)
                if lost:
                    options.warn(f"{lost} answered call{'s' if lost > 1 else ''} of this run never reached "
                                 f"{output.path} (killed in between): sent again; the usage log keeps what "
                                 "was paid for them")
        cache = None
        if options.use_cache and self.job.cacheable() and cache_enabled():
            cache = ResponseCache(warn=options.warn)
        try:
            budget = self.budget_for(items, skip, log, options.max_cost, options.warn)
            if output is not None:
                output.open()

            def record(item: InputItem, index: int, rec: dict[str, Any]) -> None:
                if output is not None:
                    output.write(item, index, rec)
                on_record(item, index, rec)

            ordered = options.ordered if options.ordered is not None else output is None
            controls = Controls(concurrency=options.concurrency, ordered=ordered, on_text=options.on_text,
                                budget=budget, log=log, cache=cache, skip=skip, on_load=options.on_load)
            return run_job(self.job, self.targets, items, controls, record)
        finally:
            if output is not None:
                output.close()
            if log is not None:
                log.close()
            if cache is not None:
                cache.close()

    def choose(self, items: Sequence[InputItem], plan: Plan, options: RunOptions) -> Mode:
        """The one place where a run's shape is decided: an estimate, a provider batch job, a compare
        (several models, no -o), one answer (one text, no -o), else a batch of records."""
        if plan.estimate:
            return Mode.ESTIMATE
        if plan.batch_api:
            return Mode.BATCH_JOB
        if plan.compare and len(self.targets) > 1 and not options.output:
            return Mode.COMPARE
        if plan.single and len(items) == 1 and not options.output:
            return Mode.SINGLE
        return Mode.BATCH

    def perform(self, items: Sequence[InputItem], plan: Plan, options: RunOptions,
                on_record: RecordSink | None = None, on_status: Callable[[str], None] | None = None) -> Outcome:
        """Run in the shape `choose` picks and say what came of it; `on_record` sees every record as it
        finishes, `on_status` a batch job's progress."""
        mode = self.choose(items, plan, options)
        if mode is Mode.ESTIMATE:
            return Estimated(self.estimate(items))
        if mode is Mode.BATCH_JOB:
            from llmctl.run.batch_run import run_provider_batch

            return run_provider_batch(self, items, options, plan.poll_interval, on_status or options.warn)
        kept: list[tuple[int, dict[str, Any]]] = []

        def keep(item: InputItem, index: int, record: dict[str, Any]) -> None:
            kept.append((index, record))
            if on_record is not None:
                on_record(item, index, record)

        report = self.run(items, keep, options)
        if mode is Mode.SINGLE:
            return Single({record["model"]: record for _, record in kept}, report)
        if mode is Mode.COMPARE:
            order = {label: i for i, label in enumerate(self.labels)}
            kept.sort(key=lambda pair: (pair[0], order[pair[1]["model"]]))
            return Compare(kept, report)
        return Batch(kept, report)
