"""Running a job on every (model, input) pair: models at once, each within its backend's limit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmctl.core.batch import run_batch
from llmctl.core.errors import BudgetExceededError, ConfigError, InputError, LlmctlError, ProviderError
from llmctl.core.inputs import InputItem
from llmctl.core.pricing import price_hint
from llmctl.core.usage import Usage
from llmctl.providers.base import ModelRef, Provider
from llmctl.providers.registry import get_provider, resolve_model
from llmctl.run.budget import Budget
from llmctl.run.cache import model_fingerprint
from llmctl.run.jobs import DeltaSink, Job, Outcome
from llmctl.run.outfile import input_key
from llmctl.run.records import Totals, as_llmctl_error, error_fields, price, tokens_per_second

#: Called once per finished record, from one thread at a time.
RecordSink = Callable[[InputItem, int, dict[str, Any]], None]


@dataclass
class Target:
    """One model of a run, resolved and with its backend chosen (loaded when the run starts)."""

    ref: ModelRef
    provider: Provider
    #: what the model is loaded for; the job's own capability unless its check said otherwise
    capability: str | None = None
    #: a local model's files (sizes, times) as they were when the run started: part of its cache keys
    files: str | None = None


def open_targets(names: Sequence[str], capability: str | Job, options: dict[str, Any],
                 base_url: str | None = None) -> list[Target]:
    """Resolve every name and check it can do the job, before anything is sent (usage errors: exit 2)."""
    targets: list[Target] = []
    seen: set[str] = set()
    for name in names:
        ref = resolve_model(name, base_url=base_url)
        if ref.label in seen:
            continue
        seen.add(ref.label)
        provider = get_provider(ref, options)
        if isinstance(capability, Job):
            targets.append(Target(ref, provider, capability.check(ref, provider)))
        else:
            provider.require(ref, capability)
            targets.append(Target(ref, provider, capability))
    return targets


@dataclass
class Controls:
    """How a run behaves around the job: all optional, all off by default."""

    concurrency: int = 4
    ordered: bool = True
    #: streamed text of each pair (a single prompt printed as it arrives, --json --stream deltas)
    on_text: DeltaSink | None = None
    budget: Budget | None = None
    log: Any = None  # llmctl.run.usage_log.UsageLog
    cache: Any = None  # llmctl.run.cache.ResponseCache
    #: (model label, input index) pairs already done (--resume): not sent again
    skip: set[tuple[str, int]] = field(default_factory=set)
    on_load: Callable[[ModelRef], Any] | None = None
    #: the exceptions behind failed records, for a caller that re-raises a single failure as it was
    failures: list[BaseException] = field(default_factory=list)
    #: cached answers looked up before the models were loaded, by (model label, input index)
    prefetched: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: the first bug met (an exception that is not an LlmctlError): nothing new starts, and the run
    #: raises it once what is in flight is written, never as a provider's failure in a record
    bug: BaseException | None = None


@dataclass
class Report:
    totals: Totals
    seconds: float
    budget_stop: str | None = None
    failures: list[BaseException] = field(default_factory=list)
    #: where each model's price was looked for, by label: for the "cost is unknown" warning
    price_hints: dict[str, str] = field(default_factory=dict)

    def raise_for_failures(self) -> None:
        """Exit 6 when the budget stopped the run, else exit 4 when any record failed."""
        if self.budget_stop:
            raise BudgetExceededError(self.budget_stop)
        failed, count = self.totals.failed, self.totals.count
        if failed:
            raise ProviderError(f"{failed} of {count} records failed; see their `error` fields")


class _Stopped(Exception):
    """The budget has no room for this request: it is not sent and has no record."""


class _Bug(Exception):
    """A bug met while sending a chunk, with the chunk's calls, which the log must still count."""

    def __init__(self, error: BaseException, calls: list[_LogCall]) -> None:
        super().__init__(str(error))
        self.error = error
        self.calls = calls


def is_bug(exc: BaseException) -> bool:
    """Whether an exception from a job or a provider is llmctl's own fault: anything but an LlmctlError
    (providers turn every failure they know of into one) and a body that was not the promised JSON."""
    return isinstance(exc, Exception) and not isinstance(exc, (LlmctlError, json.JSONDecodeError))


def run_job(job: Job, targets: Sequence[Target], items: Sequence[InputItem], controls: Controls,
            on_record: RecordSink) -> Report:
    """Run `job` on every input with every model; records go to `on_record` as they finish."""
    totals = Totals([t.ref.label for t in targets])
    lock = threading.Lock()
    started = time.perf_counter()

    def deliver(item: InputItem, index: int, record: dict[str, Any]) -> None:
        with lock:
            totals.add(record)
            on_record(item, index, record)

    # Every model is loaded before any record is written: llama.cpp points the process's stdout
    # and stderr at /dev/null while it loads a model, which would swallow records written then.
    # A local model whose every answer is already in the cache is not loaded at all.
    for target in targets:
        target.files = model_fingerprint(target.ref)
    answered = _prefetch(job, targets, items, controls)
    load_errors = _load_all([t for t in targets if t.ref.label not in answered], job.capability, controls)
    for target in targets:
        # A missing key or a broken profile is the run's configuration, not one model's failure:
        # exit 3 before any model (in a compare, the working ones too) is sent anything.
        if isinstance(load_errors.get(target.ref.label), ConfigError):
            raise load_errors[target.ref.label]

    def timed(target: Target) -> None:
        began = time.perf_counter()
        try:
            _run_model(job, target, items, controls, deliver, load_errors.get(target.ref.label))
        finally:
            totals.by_model[target.ref.label].seconds = time.perf_counter() - began

    _each(targets, timed, controls)
    if controls.bug is not None:
        raise controls.bug
    stop = controls.budget.stopped if controls.budget is not None else None
    hints = {t.ref.label: price_hint(t.ref.provider, t.ref.model, t.ref.settings) for t in targets}
    return Report(totals, time.perf_counter() - started, stop, controls.failures, hints)


def _each(targets: Sequence[Target], fn: Callable[[Target], Any], controls: Controls) -> None:
    """`fn` on every model: in this thread for one, at once in threads for several."""
    if not targets:
        return
    if len(targets) == 1:
        fn(targets[0])
        return
    pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="llmctl-model")
    try:
        futures = [pool.submit(fn, t) for t in targets]
        for future in futures:
            future.result()
    except BaseException:
        if controls.budget is not None:
            controls.budget.stop("interrupted")
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _load_all(targets: Sequence[Target], capability: str, controls: Controls) -> dict[str, LlmctlError]:
    """Load every model at once; a model that fails to load fails its records, not the run."""
    errors: dict[str, LlmctlError] = {}

    def load(target: Target) -> None:
        ref, provider = target.ref, target.provider
        started = time.perf_counter()
        try:
            if controls.on_load is not None:
                with controls.on_load(ref):
                    provider.load(ref, target.capability or capability)
            else:
                provider.load(ref, target.capability or capability)
        except LlmctlError as exc:
            errors[ref.label] = exc
            return
        # What loading took, for the records and the summary (APIs load nothing worth a figure).
        provider.load_ms = round((time.perf_counter() - started) * 1000, 1) if provider.local else None

    _each(targets, load, controls)
    return errors


#: a run of at most this many inputs per model is looked up in the cache before its model loads
PREFETCH_AT_MOST = 1000


def _prefetch(job: Job, targets: Sequence[Target], items: Sequence[InputItem], controls: Controls) -> set[str]:
    """Look up each local model's inputs in the cache before loading it; returns the labels of the
    models whose every answer was found (those need no loading). What was found is kept in
    `controls.prefetched`, so the run uses exactly these answers: no eviction can come between."""
    cache = controls.cache if job.cacheable() else None
    answered: set[str] = set()
    if cache is None:
        return answered
    for target in targets:
        label = target.ref.label
        pending = [(i, item) for i, item in enumerate(items)
                   if (label, i) not in controls.skip and item.problem is None]
        if not target.provider.local or not pending or len(pending) > PREFETCH_AT_MOST:
            continue
        for index, item in pending:
            stored = cache.get(cache.key(job, target.ref, item.text, files=target.files))
            if stored is None:
                break
            controls.prefetched[(label, index)] = stored
        else:
            answered.add(label)
    return answered


def _base(item: InputItem, ref: ModelRef) -> dict[str, Any]:
    return {**item.fields, "model": ref.label}


def _failed(job: Job, item: InputItem, ref: ModelRef, exc: BaseException, latency_ms: float | None = None,
            controls: Controls | None = None) -> dict[str, Any]:
    if controls is not None:
        controls.failures.append(exc)
    record = _base(item, ref)
    record.update({key: None for key in job.result_keys})
    record.update(usage=None, cost=None, latency_ms=latency_ms, error=error_fields(exc))
    return record


def _run_model(job: Job, target: Target, items: Sequence[InputItem], controls: Controls,
               deliver: Callable[[InputItem, int, dict[str, Any]], None], load_error: LlmctlError | None) -> None:
    ref, provider = target.ref, target.provider
    pending = [(i, item) for i, item in enumerate(items) if (ref.label, i) not in controls.skip]
    if load_error is not None:
        for index, item in pending:
            deliver(item, index, _failed(job, item, ref, load_error, None, controls))
        return
    size = max(1, job.chunk_for(ref, provider))
    chunks = [pending[i:i + size] for i in range(0, len(pending), size)]
    limit = provider.max_concurrency
    workers = max(1, min(controls.concurrency, limit) if limit else controls.concurrency)
    budget = controls.budget

    def work(chunk: list[tuple[int, InputItem]]) -> _ChunkResult:
        return _send_chunk(job, target, chunk, controls)

    def on_result(position: int, result: _ChunkResult | None, error: BaseException | None) -> None:
        if error is not None:
            if isinstance(error, _Stopped):
                return
            if isinstance(error, KeyboardInterrupt):
                raise error
            if isinstance(error, _Bug) or is_bug(error):
                # Our own fault, not the provider's: no record says "provider error"; the run stops.
                if isinstance(error, _Bug):
                    if controls.log is not None:
                        for args, kwargs in error.calls:
                            controls.log.record_call(*args, **kwargs)
                    error = error.error
                if controls.bug is None:
                    controls.bug = error
                return
            for index, item in chunks[position]:
                deliver(item, index, _failed(job, item, ref, error, None, controls))
            return
        assert result is not None
        records, calls = result
        # Logged before the records are written, by the thread that writes them: the log is what
        # budgets count, so a kill between the two must leave a logged call whose record is lost
        # (`--resume` sends it again, and both calls were paid), never a record whose call is unlogged.
        if controls.log is not None:
            for args, kwargs in calls:
                controls.log.record_call(*args, **kwargs)
        for index, item, record in records:
            deliver(item, index, record)

    def should_stop() -> bool:
        return controls.bug is not None or (budget is not None and budget.stopped is not None)

    run_batch(chunks, work, concurrency=workers, on_result=on_result, ordered=controls.ordered,
              should_stop=should_stop)


_LogCall = tuple[tuple[Any, ...], dict[str, Any]]
_ChunkResult = tuple[list[tuple[int, InputItem, dict[str, Any]]], list[_LogCall]]


def _send_chunk(job: Job, target: Target, chunk: list[tuple[int, InputItem]], controls: Controls
                ) -> _ChunkResult:
    ref = target.ref
    calls: list[_LogCall] = []
    done: dict[int, dict[str, Any]] = {}
    to_send: list[tuple[int, InputItem, str | None]] = []
    cache = controls.cache if job.cacheable() else None
    for index, item in chunk:
        if item.problem is not None:
            done[index] = _failed(job, item, ref, InputError(item.problem), None, controls)
            continue
        key = cache.key(job, ref, item.text, files=target.files) if cache is not None else None
        stored = controls.prefetched.pop((ref.label, index), None)
        if stored is None and key is not None and cache is not None:
            stored = cache.get(key)
        if stored is not None:
            done[index] = _from_cache(item, ref, stored)
            calls.append(((job.command, ref, None, None, 0.0),
                          {"cache_hit": True, "records": _keys(ref, [(index, item, None)], controls),
                           **_exchange(job, ref, item.text, stored["fields"], len(chunk))}))
            continue
        to_send.append((index, item, key))
    if to_send:
        done.update(_call(job, target, to_send, controls, calls))
    return [(index, item, done[index]) for index, item in chunk if index in done], calls


def _keys(ref: ModelRef, batch: list[tuple[int, InputItem, str | None]], controls: Controls
          ) -> list[tuple[str, str]] | None:
    """The records one call answers, as the usage log names them (model label, input key); only
    a run with -o keeps them, so nothing is computed otherwise."""
    if controls.log is None or controls.log.run is None:
        return None
    return [(ref.label, input_key(item, index)) for index, item, _ in batch]


def _from_cache(item: InputItem, ref: ModelRef, stored: dict[str, Any]) -> dict[str, Any]:
    record = _base(item, ref)
    record.update(stored["fields"])
    cost = stored["cost"]
    record.update(usage=stored["usage"], cost={**cost, "input": 0 if cost["input"] is not None else None,
                                               "output": 0 if cost["output"] is not None else None,
                                               "total": 0 if cost["total"] is not None else None},
                  latency_ms=0.0, cached=True, saved=cost["total"], error=None)
    return record


def _call(job: Job, target: Target, batch: list[tuple[int, InputItem, str | None]], controls: Controls,
          calls: list[_LogCall]) -> dict[int, dict[str, Any]]:
    ref, provider = target.ref, target.provider
    budget = controls.budget
    reserved = Decimal(0)
    if budget is not None:
        held = budget.reserve(ref.label, [index for index, _, _ in batch])
        if held is None:
            raise _Stopped
        reserved = held
    texts = [item.text for _, item, _ in batch]
    sink = None
    if controls.on_text is not None and len(batch) == 1:
        on_text = controls.on_text

        def sink(delta: str) -> None:
            on_text(ref, delta)

    started = time.perf_counter()
    try:
        outcomes: list[Outcome] = (job.run_many(ref, provider, texts) if len(batch) > 1
                                   else [job.run_one(ref, provider, texts[0], sink)])
    except Exception as exc:
        latency = round((time.perf_counter() - started) * 1000, 1)
        # A failure can still have been paid for (answers that never validated): it says so in `usage`.
        used = getattr(exc, "usage", None)
        used = used if isinstance(used, Usage) and len(batch) == 1 else None
        paid = price(ref, provider, used) if used is not None else None
        if budget is not None:
            budget.settle(reserved, paid.total if paid is not None and paid.total is not None else Decimal(0))
        calls.append(((job.command, ref, used, paid, latency),
                      {"error_type": type(exc).__name__, "records": _keys(ref, batch, controls)}))
        if is_bug(exc):
            raise _Bug(exc, calls) from exc
        extra = job.failed_fields(exc)
        if not isinstance(exc, LlmctlError):
            exc = as_llmctl_error(exc)
        failed = {index: _failed(job, item, ref, exc, latency, controls) for index, item, _ in batch}
        for record in failed.values():
            record.update(extra)
            if used is not None and paid is not None:
                record.update(usage=used.to_json(), cost=paid.to_json())
        return failed
    latency = round((time.perf_counter() - started) * 1000, 1)
    records: dict[int, dict[str, Any]] = {}
    spent = Decimal(0)
    for (index, item, key), outcome in zip(batch, outcomes, strict=True):
        cost = price(ref, provider, outcome.usage)
        if cost.total is not None:
            spent += cost.total
        record = _base(item, ref)
        record.update(outcome.fields)
        record.update(usage=outcome.usage.to_json(), cost=cost.to_json(), latency_ms=latency)
        if provider.load_ms is not None:
            record["load_ms"] = provider.load_ms
        if outcome.ttft_ms is not None:
            record["ttft_ms"] = outcome.ttft_ms
            record["tokens_per_s"] = tokens_per_second(outcome.usage, latency, outcome.ttft_ms)
        record.update(outcome.extra)
        record["error"] = None
        records[index] = record
        if key is not None and controls.cache is not None:
            controls.cache.put(key, {"fields": outcome.fields, "usage": record["usage"], "cost": record["cost"]},
                               ref=ref, command=job.command)
    if budget is not None:
        budget.settle(reserved, spent)
    if controls.log is not None and len(outcomes) == 1 and outcomes[0].rounds:
        # One input that took several model calls (tool rounds): each is a call of its own in the log,
        # with its own usage and cost; together they are what the record says.
        for number, used in enumerate(outcomes[0].rounds):
            calls.append(((job.command, ref, used, price(ref, provider, used), latency if number == 0 else 0.0),
                          {"text": texts[0] if number == 0 else None,
                           "records": _keys(ref, batch, controls) if number == 0 else None}))
    elif controls.log is not None:
        usage = outcomes[0].usage
        for outcome in outcomes[1:]:
            usage = usage + outcome.usage
        calls.append(((job.command, ref, usage, price(ref, provider, usage), latency),
                      {"text": texts[0] if len(texts) == 1 else None, "records": _keys(ref, batch, controls),
                       **_exchange(job, ref, texts[0], outcomes[0].fields, len(batch))}))
    return records


def _exchange(job: Job, ref: ModelRef, text: str, fields: dict[str, Any], count: int) -> dict[str, Any]:
    """The log call's `exchange` argument where the job's single prompt belongs to a conversation."""
    link = job.conversation
    if link is None or count != 1:
        return {}
    exchange = link.exchange(job.command, ref.label, text, job.settings(), fields.get("text"))
    return {"exchange": exchange} if exchange is not None else {}


__all__ = ["Controls", "Report", "Target", "is_bug", "open_targets", "run_job"]
