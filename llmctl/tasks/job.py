"""What every task job shares: a task's per-record function run by the run layer, and its calls counted.

Each task's own job sits beside it (`tasks/classify.py`'s ClassifyJob, ...); ARCHITECTURE.md says how to add one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from llmctl.providers.base import COMPLETE, CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run.jobs import Estimate, Job, Outcome
from llmctl.tasks.result import TaskResult
from llmctl.tasks.structured import PROBLEM_TOKENS_AT_MOST, retry_request


def template_settings(template: CompletionRequest) -> dict[str, Any]:
    request = dataclasses.asdict(template)
    for key in ("prompt", "stream", "history"):
        request.pop(key, None)
    return request


def _deterministic(template: CompletionRequest) -> bool:
    return template.temperature == 0 or template.seed is not None


def outcome_of(result: TaskResult) -> Outcome:
    return Outcome({**result.fields, "calls": result.calls}, result.usage)


def _output_ceiling(ref: ModelRef, tokenizer: Tokenizer, inputs: int) -> int:
    """The most an uncapped answer may take: the model's output limit, else what is left of the window."""
    if ref.facts.max_output is not None:
        return ref.facts.max_output
    window = ref.context_window or tokenizer.context_window
    return max(int(window) - inputs, 0) if window else 0


def count_requests(ref: ModelRef, provider: Provider, tokenizer: Tokenizer,
                    calls: Sequence[tuple[CompletionRequest, int]], retried: Sequence[bool] = ()) -> Estimate:
    """Input and output bounds of `calls` ((request, tokens carried in from earlier answers)); a call
    flagged in `retried` may be sent a second time, which counts in the retry bounds: its prompt
    and answer as history, the validation problem, and another answer."""
    tokens_in = tokens_out = largest = retry_in = retry_out = 0
    unbounded = False
    for number, (request, carried) in enumerate(calls):
        inputs = provider.count_request(ref, request) + carried
        tokens_in += inputs
        largest = max(largest, inputs)
        answer = request.max_tokens if request.max_tokens is not None else _output_ceiling(ref, tokenizer, inputs)
        # An uncapped answer on a model with no known limit: no budget can bound it (the run layer refuses).
        unbounded = unbounded or (request.max_tokens is None and ref.facts.max_output is None
                                  and not (ref.context_window or tokenizer.context_window))
        tokens_out += answer
        if number < len(retried) and retried[number]:
            again = retry_request(request, "", "")
            again_in = provider.count_request(ref, again) + carried + answer + PROBLEM_TOKENS_AT_MOST
            retry_in += again_in
            retry_out += request.max_tokens if request.max_tokens is not None else \
                _output_ceiling(ref, tokenizer, again_in)
    return Estimate(tokens_in, tokens_out, largest if len(calls) > 1 else None, retry_in, retry_out,
                    unbounded=unbounded)


class TaskJob(Job):
    """A task's per-record function run by the run layer; `calls` joins the task's own fields."""

    capability = COMPLETE

    def __init__(self, template: CompletionRequest) -> None:
        self.template = template

    def cacheable(self) -> bool:
        return _deterministic(self.template)

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        raise NotImplementedError

    def failed_fields(self, error: BaseException) -> dict[str, Any]:
        calls = getattr(error, "calls", None)
        return {"calls": calls} if isinstance(calls, int) else {}

    def run_one(self, ref: ModelRef, provider: Provider, text: str, on_text: Callable[[str], None] | None
                ) -> Outcome:
        return outcome_of(self.run_task(ref, provider, text))


__all__ = ["TaskJob", "count_requests", "outcome_of", "template_settings"]
