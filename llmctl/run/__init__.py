"""The run layer: a job run on every (model, input) pair, with compare, estimate, budgets, log, resume and cache.

A command describes its work as a `Job` and hands it, with model names and inputs, to a `Session`:

    from llmctl.run import CompleteJob, Session, RunOptions
    session = Session(CompleteJob(CompletionRequest(prompt="", temperature=0)),
                      ["openai:gpt-4o-mini", "smollm2"], options={})
    session.estimate(items)                       # -> [ModelEstimate], no network, no key
    report = session.run(items, on_record, RunOptions(concurrency=8, output="out.jsonl", resume=True,
                                                      max_cost=Decimal("2")))
    report.raise_for_failures()                   # exit 6 when the budget stopped it, 4 when records failed
    outcome = session.perform(items, Plan(single=True, compare=True), RunOptions())
                                                  # -> Estimated | Single | Compare | Batch | BatchJob

`Session.perform` is where a command's run takes its shape (an estimate, one answer, a compare of
several models, a batch of records, or a provider batch job under the same budget rules), chosen
once from the `Plan`, the models and the inputs; the command draws the typed outcome it returns.

`on_record(item, index, record)` gets every finished record, one at a time, in input order per
model (or as they finish with `ordered=False`, the default with `output`). Models run at once;
each runs at most min(concurrency, provider.max_concurrency) calls at a time.

A job subclasses `Job` and gives:
    command         the name logged and written to -o files ("complete", "classify", ...)
    capability      what the provider must be able to do ("complete" or "embed")
    result_keys     the record fields it fills (null in a failed record)
    settings()      what makes two runs the same: checked on --resume, part of the cache key
    cacheable()     whether a stored answer may stand in for a new one
    run_one(ref, provider, text, on_text) -> Outcome(fields, usage, ttft_ms)
    run_many(ref, provider, texts)        (optional: one call for a chunk of `chunk_size` inputs)
    estimate(ref, provider, tokenizer, text) -> Estimate(input_tokens, max_output_tokens[, largest_call])
and may override:
    check(ref, provider) -> capability   refuse a model up front (exit 2); what to load it for
    chunk_for(ref, provider)             inputs per call for this model (default `chunk_size`)
    failed_fields(error)                 fields a failed record keeps (a task's `calls`); an error
                                         with a `usage` was paid for: its record and the log say so

Around it the layer does: records in one shape (README, "Output, exit codes, money": carried
input fields, `model`, the job's fields, `usage`, `cost`, `latency_ms`, `error`; `ttft_ms` and
`tokens_per_s` when the job streamed; `cached` and `saved` on a cache hit), failures as record errors, the usage log,
the response cache, --max-cost and [budget] limits, the -o file and --resume. Inputs that share an
`id` are refused before anything is sent (`RunOptions.dedupe` keeps the first of each). An exception
that is not an LlmctlError is a bug, never a record's error: nothing new starts, what is in flight
is written, and `run` raises it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmctl.run.estimate import ModelEstimate, estimate_run
    from llmctl.run.jobs import CompleteJob, EmbedJob, Estimate, Job, Outcome
    from llmctl.run.outcome import Batch, BatchJob, Compare, Estimated, Mode, Plan, Single
    from llmctl.run.runner import Controls, Report, Target, open_targets, run_job
    from llmctl.run.session import RunOptions, Session, read_models_file

#: where each name lives: loaded on first use, so `llmctl logs` (llmctl.run.log_query) starts
#: without the runner, the estimator and the providers they import
_WHERE = {
    "ModelEstimate": "estimate", "estimate_run": "estimate",
    "CompleteJob": "jobs", "EmbedJob": "jobs", "Estimate": "jobs", "Job": "jobs", "Outcome": "jobs",
    "Batch": "outcome", "BatchJob": "outcome", "Compare": "outcome", "Estimated": "outcome", "Mode": "outcome",
    "Plan": "outcome", "Single": "outcome",
    "Controls": "runner", "Report": "runner", "Target": "runner", "open_targets": "runner", "run_job": "runner",
    "RunOptions": "session", "Session": "session", "read_models_file": "session",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'llmctl.run' has no attribute {name!r}")
    return getattr(importlib.import_module(f"llmctl.run.{module}"), name)


__all__ = [
    "Batch", "BatchJob", "Compare", "CompleteJob", "Controls", "EmbedJob", "Estimate", "Estimated", "Job", "Mode",
    "ModelEstimate", "Outcome", "Plan", "Report", "RunOptions", "Session", "Single", "Target", "estimate_run",
    "open_targets", "read_models_file", "run_job",
]
