"""The work behind `llmctl complete`: one prompt streamed, or a batch run concurrently in order."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from llmctl.cli.backend import cost_of, open_model, show_warnings, summary_line, timing, warn_unknown_price
from llmctl.core.batch import run_batch
from llmctl.core.errors import LlmctlError, ProviderError
from llmctl.core.inputs import InputItem, collect_inputs
from llmctl.core.output import Output
from llmctl.core.usage import Usage
from llmctl.providers.base import Completion, CompletionRequest, ModelRef, Provider


def read_prompts(prompt: Sequence[str] | None, files: Sequence[str] | None, jsonl: str | None,
                 field: str) -> list[InputItem]:
    return collect_inputs(prompt, files, jsonl, field, join_args=True)


def open_for_completion(out: Output, name: str | None, options: dict[str, Any],
                        base_url: str | None) -> tuple[ModelRef, Provider]:
    return open_model(out, name, "complete", options, base_url)


def _record(ref: ModelRef, provider: Provider, completion: Completion, seconds: float) -> dict[str, Any]:
    cost = cost_of(ref, provider, completion.usage)
    return {
        "model": ref.label,
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "usage": completion.usage.to_json(),
        "cost": cost.to_json(),
        **timing(provider, seconds),
    }


def complete_one(out: Output, ref: ModelRef, provider: Provider, template: CompletionRequest, text: str,
                 streaming: bool) -> None:
    request = dataclasses.replace(template, prompt=text, stream=streaming)
    wrote: list[str] = []

    def sink(delta: str) -> None:
        wrote.append(delta)
        out.write(delta)

    started = time.perf_counter()
    completion = provider.complete(ref, request, sink if streaming else None)
    seconds = time.perf_counter() - started
    show_warnings(out, provider)
    cost = cost_of(ref, provider, completion.usage)
    if out.json_mode:
        out.record(_record(ref, provider, completion, seconds))
    else:
        if not streaming or not wrote:
            out.write(completion.text)
        if not completion.text.endswith("\n"):
            out.write("\n")
    warn_unknown_price(out, ref, cost)
    out.summary(summary_line(ref, completion.usage, cost, seconds, out, provider))


def complete_batch(out: Output, ref: ModelRef, provider: Provider, template: CompletionRequest,
                   items: list[InputItem], concurrency: int) -> None:
    """JSONL out, one record per input in input order; failures carry `error`, and exit 4 at the end."""
    limit = provider.max_concurrency
    workers = min(concurrency, limit) if limit else concurrency
    totals = {"usage": Usage(0, 0), "failed": 0}
    unknown_price = False
    started = time.perf_counter()

    def work(item: InputItem) -> tuple[Completion, float]:
        t0 = time.perf_counter()
        result = provider.complete(ref, dataclasses.replace(template, prompt=item.text, stream=False), None)
        return result, time.perf_counter() - t0

    def deliver(index: int, result: tuple[Completion, float] | None, error: BaseException | None) -> None:
        nonlocal unknown_price
        item = items[index]
        if result is not None:
            completion, seconds = result
            record = {**item.fields, **_record(ref, provider, completion, seconds), "error": None}
            totals["usage"] = totals["usage"] + completion.usage  # type: ignore[operator]
            unknown_price = unknown_price or record["cost"]["total"] is None
        else:
            assert error is not None
            if isinstance(error, KeyboardInterrupt):
                raise error
            totals["failed"] += 1  # type: ignore[operator]
            kind = type(error).__name__
            message = error.one_line() if isinstance(error, LlmctlError) else str(error)
            record = {**item.fields, "model": ref.label, "text": None, "usage": None, "cost": None,
                      "latency_ms": None, "error": {"type": kind, "message": message}}
        out.record(record)

    run_batch(items, work, concurrency=workers, on_result=deliver)
    show_warnings(out, provider)
    usage: Usage = totals["usage"]  # type: ignore[assignment]
    cost = cost_of(ref, provider, usage)
    if unknown_price:
        warn_unknown_price(out, ref, cost)
    failed = int(totals["failed"])  # type: ignore[call-overload]
    line = summary_line(ref, usage, cost, time.perf_counter() - started, out, provider)
    out.summary(f"{line} · {len(items) - failed}/{len(items)} ok")
    if failed:
        raise ProviderError(f"{failed} of {len(items)} records failed; see their `error` fields")
