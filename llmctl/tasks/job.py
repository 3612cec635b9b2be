"""classify, summarize and ner as run-layer jobs: compare, estimate, budgets, log, resume and cache for each."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from llmctl.providers.base import COMPLETE, CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run.jobs import Estimate, Job, Outcome
from llmctl.tasks.classify import ClassifySpec, classify, classify_many, planned_requests
from llmctl.tasks.classify import check as check_classify
from llmctl.tasks.ner import NerSpec, ner
from llmctl.tasks.ner import planned_requests as ner_requests
from llmctl.tasks.result import TaskResult
from llmctl.tasks.structured import PROBLEM_TOKENS_AT_MOST, retry_request
from llmctl.tasks.summarize import SummarySpec, planned_calls, summarize

#: texts a classification head reads in one padded batch
HEAD_BATCH = 64


def _template_settings(template: CompletionRequest) -> dict[str, Any]:
    request = dataclasses.asdict(template)
    for key in ("prompt", "stream", "history"):
        request.pop(key, None)
    return request


def _deterministic(template: CompletionRequest) -> bool:
    return template.temperature == 0 or template.seed is not None


def _outcome(result: TaskResult) -> Outcome:
    return Outcome({**result.fields, "calls": result.calls}, result.usage)


def _output_ceiling(ref: ModelRef, tokenizer: Tokenizer, inputs: int) -> int:
    """The most an uncapped answer may take: the model's output limit, else what is left of the window."""
    if ref.facts.max_output is not None:
        return ref.facts.max_output
    window = ref.context_window or tokenizer.context_window
    return max(int(window) - inputs, 0) if window else 0


def _count_requests(ref: ModelRef, provider: Provider, tokenizer: Tokenizer,
                    calls: Sequence[tuple[CompletionRequest, int]], retried: Sequence[bool] = ()) -> Estimate:
    """Input and output bounds of `calls` ((request, tokens carried in from earlier answers)); a call
    flagged in `retried` may be sent a second time, which counts in the retry bounds: its prompt
    and answer as history, the validation problem, and another answer."""
    tokens_in = tokens_out = largest = retry_in = retry_out = 0
    for number, (request, carried) in enumerate(calls):
        inputs = provider.count_request(ref, request) + carried
        tokens_in += inputs
        largest = max(largest, inputs)
        answer = request.max_tokens if request.max_tokens is not None else _output_ceiling(ref, tokenizer, inputs)
        tokens_out += answer
        if number < len(retried) and retried[number]:
            again = retry_request(request, "", "")
            again_in = provider.count_request(ref, again) + carried + answer + PROBLEM_TOKENS_AT_MOST
            retry_in += again_in
            retry_out += request.max_tokens if request.max_tokens is not None else \
                _output_ceiling(ref, tokenizer, again_in)
    return Estimate(tokens_in, tokens_out, largest if len(calls) > 1 else None, retry_in, retry_out)


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
        return _outcome(self.run_task(ref, provider, text))


class ClassifyJob(TaskJob):
    """`classify`: a label (or labels) per text, with scores and a reason where asked."""

    command = "classify"

    def __init__(self, spec: ClassifySpec) -> None:
        super().__init__(spec.template)
        self.spec = spec
        key = "labels" if spec.multi_label else "label"
        self.result_keys = (key, "scores", *(("reason",) if spec.explain else ()), "calls")

    def settings(self) -> dict[str, Any]:
        spec = self.spec
        return {"labels": spec.labels, "multi_label": spec.multi_label, "scores": spec.scores,
                "explain": spec.explain, "examples": [[e.text, e.answer] for e in spec.examples],
                "request": _template_settings(spec.template)}

    def check(self, ref: ModelRef, provider: Provider) -> str:
        method = check_classify(provider, ref, self.spec)
        if method in ("generate", "scores"):
            provider.require(ref, COMPLETE)
            return COMPLETE
        return provider.head(ref) or COMPLETE

    def _on_head(self, ref: ModelRef, provider: Provider) -> bool:
        return check_classify(provider, ref, self.spec) == "head"

    def chunk_for(self, ref: ModelRef, provider: Provider) -> int:
        return HEAD_BATCH if self._on_head(ref, provider) else 1

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        return classify(provider, ref, text, self.spec)

    def run_many(self, ref: ModelRef, provider: Provider, texts: Sequence[str]) -> list[Outcome]:
        return [_outcome(r) for r in classify_many(provider, ref, list(texts), self.spec)]

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        planned = planned_requests(provider, ref, text, self.spec)
        if planned:
            return _count_requests(ref, provider, tokenizer, [(r, 0) for r, _ in planned],
                                   [structured for _, structured in planned])
        if check_classify(provider, ref, self.spec) == "nli":
            from llmctl.tasks.classify import NLI_HYPOTHESIS

            hypotheses = [NLI_HYPOTHESIS.format(label=label) for label in self.spec.labels or []]
            return Estimate(sum(tokenizer.count(text) + tokenizer.count(h) for h in hypotheses), 0)
        return Estimate(tokenizer.count(text), 0)


class SummarizeJob(TaskJob):
    """`summarize`: one summary per text, however long (chunks, map-reduce or refine)."""

    command = "summarize"
    result_keys = ("summary", "chunks", "strategy", "calls")

    def __init__(self, spec: SummarySpec, progress: Callable[[int, int], None] | None = None) -> None:
        super().__init__(spec.template)
        self.spec = spec
        #: called with (calls made, calls planned) as a single document's calls go
        self.progress = progress

    def settings(self) -> dict[str, Any]:
        spec = self.spec
        return {"max_words": spec.max_words, "max_tokens": spec.max_tokens, "style": spec.style,
                "language": spec.language, "strategy": spec.strategy, "request": _template_settings(spec.template)}

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        return summarize(provider, ref, text, self.spec, self.progress)

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        calls = planned_calls(provider, ref, text, self.spec, tokenizer.count)
        return _count_requests(ref, provider, tokenizer, calls)


class NerJob(TaskJob):
    """`ner`: entities with character offsets into each text."""

    command = "ner"
    result_keys = ("entities", "chunks", "dropped", "calls")

    def __init__(self, spec: NerSpec) -> None:
        super().__init__(spec.template)
        self.spec = spec

    def settings(self) -> dict[str, Any]:
        return {"types": self.spec.types, "request": _template_settings(self.spec.template)}

    def check(self, ref: ModelRef, provider: Provider) -> str:
        if provider.head(ref) == "token-classification":
            return "token-classification"
        provider.require(ref, COMPLETE)
        return COMPLETE

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        return ner(provider, ref, text, self.spec)

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        requests = ner_requests(provider, ref, text, self.spec, tokenizer.count)
        if not requests:
            return Estimate(tokenizer.count(text), 0)
        return _count_requests(ref, provider, tokenizer, [(r, 0) for r in requests], [True] * len(requests))


__all__ = ["ClassifyJob", "NerJob", "SummarizeJob", "TaskJob"]
