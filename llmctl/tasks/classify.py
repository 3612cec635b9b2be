"""classify: one text to a label (or several), by a generation model, label scores, or an HF task head."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import COMPLETE, CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run.jobs import Estimate, Outcome
from llmctl.tasks.fitness import warn_unfit
from llmctl.tasks.job import TaskJob, count_requests, outcome_of, template_settings
from llmctl.tasks.labels import Example
from llmctl.tasks.result import TaskResult
from llmctl.tasks.scoring import option_probabilities, require_scores, softmax
from llmctl.tasks.structured import ask_structured, structured_request

#: the hypothesis an NLI model checks for each label (zero-shot classification)
NLI_HYPOTHESIS = "This text is about {label}."
#: a label applies in multi-label mode when its probability is above this
THRESHOLD = 0.5
#: tokens a JSON label answer may take, and each further label of a multi-label answer
LABEL_ANSWER_TOKENS = 64
LABEL_TOKENS = 16
#: a local model's reason (after label scores): at most this many characters, and tokens for its answer
#: (a token is at least one character, plus the JSON around it)
REASON_CHARS = 200
REASON_TOKENS = 256


@dataclass(frozen=True)
class ClassifySpec:
    """What to ask. `labels` None means: the model's own head labels."""

    labels: list[str] | None
    multi_label: bool = False
    scores: bool = False
    explain: bool = False
    examples: list[Example] = field(default_factory=list)
    template: CompletionRequest = field(default_factory=lambda: CompletionRequest("", temperature=0.0))


def head_of(provider: Provider, ref: ModelRef) -> str | None:
    """The HF task head the model has, if any ('sequence-classification', 'nli', 'token-classification')."""
    return provider.head(ref)


def check(provider: Provider, ref: ModelRef, spec: ClassifySpec) -> str:
    """Refuse what this model cannot do before any input is read; returns the method it will use."""
    head = head_of(provider, ref)
    if head == "sequence-classification":
        if spec.labels is not None:
            labels = ", ".join(provider.head_labels(ref))  # type: ignore[attr-defined]
            raise UsageError(f"{ref.label} is a classification head with its own labels ({labels}); drop --labels")
        if spec.explain or spec.examples:
            raise UsageError(f"{ref.label} is a classification head: --explain and --examples need a generation model")
        return "head"
    if head == "nli":
        if spec.labels is None:
            raise UsageError(f"{ref.label} is an NLI model: give the candidate labels with --labels")
        if spec.explain or spec.examples:
            raise UsageError(f"{ref.label} is an NLI model: --explain and --examples need a generation model")
        return "nli"
    if head is not None:
        raise UsageError(f"{ref.label} is a {head} model; it cannot classify texts")
    if spec.labels is None:
        raise UsageError("--labels is required: name the labels, e.g. --labels pos,neg (or @labels.txt)")
    warn_unfit(provider, ref, "classify")
    if spec.scores:
        require_scores(provider, ref)
        return "scores"
    if provider.local and scores_locally(provider, ref):
        # A small local model that writes its answer gives the label it read first; scored, its answer
        # follows the text (benchmarks/bench_tasks.py --only quality, README figures).
        return "scores"
    return "generate"


def scores_locally(provider: Provider, ref: ModelRef) -> bool:
    """Whether the model scores given continuations itself (gguf, hf generation models)."""
    return provider.gives_logprobs(ref) and type(provider).score_continuations is not Provider.score_continuations


# ---------------------------------------------------------------------- prompts
def _answer_model(labels: list[str], multi: bool, explain: bool) -> type[BaseModel]:
    choice: Any = Literal[tuple(labels)]  # type: ignore[valid-type]
    fields: dict[str, Any] = {}
    if explain:
        fields["reason"] = (str, Field(description="one short sentence saying why"))
    if multi:
        fields["labels"] = (list[choice], Field(description="every label that applies"))
    else:
        fields["label"] = (choice, ...)
    return create_model("ClassifyAnswer", __config__=ConfigDict(extra="forbid"), **fields)


def _instructions(spec: ClassifySpec, labels: list[str], label_only: bool) -> str:
    which = "every one of these labels that applies" if spec.multi_label else "exactly one of these labels"
    lines = [f"Classify the text with {which}: {', '.join(labels)}."]
    if spec.examples:
        lines.append("\nExamples:")
        for example in spec.examples:
            if label_only:
                shown = example.answer if isinstance(example.answer, str) else ", ".join(example.answer)
            else:
                key = "labels" if spec.multi_label else "label"
                shown = json.dumps({key: example.answer}, ensure_ascii=False)
            lines.append(f"Text: {example.text}\nAnswer: {shown}")
    return "\n".join(lines)


def _prompt(text: str, spec: ClassifySpec, labels: list[str], *, label_only: bool) -> str:
    tail = "\nAnswer with the label only." if label_only else ""
    return f"{_instructions(spec, labels, label_only)}\n\nText: {text}{tail}"


# ---------------------------------------------------------------------- the paths
def _fields(spec: ClassifySpec, scores: dict[str, float] | None, chosen: str | list[str],
            reason: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"labels" if spec.multi_label else "label": chosen}
    fields["scores"] = {k: round(v, 6) for k, v in scores.items()} if scores is not None else None
    if spec.explain:
        fields["reason"] = reason
    return fields


def _pick(spec: ClassifySpec, scores: dict[str, float]) -> str | list[str]:
    if spec.multi_label:
        return [label for label, p in scores.items() if p > THRESHOLD]
    return max(scores, key=lambda k: scores[k])


def answer_tokens(spec: ClassifySpec, labels: list[str]) -> int | None:
    """The cap on a generated answer: a label answer is short, so it is bounded (and --estimate with it);
    an answer with a reason is left to the model's own cap."""
    if spec.template.max_tokens is not None:
        return spec.template.max_tokens
    if spec.explain:
        return None
    return LABEL_ANSWER_TOKENS + (LABEL_TOKENS * len(labels) if spec.multi_label else 0)


def _generate_request(provider: Provider, ref: ModelRef, text: str, spec: ClassifySpec,
                      labels: list[str]) -> tuple[CompletionRequest, type[BaseModel], str]:
    model = _answer_model(labels, spec.multi_label, spec.explain)
    template = dataclasses.replace(spec.template, max_tokens=answer_tokens(spec, labels))
    prompt = _prompt(text, spec, labels, label_only=False)
    return template, model, prompt


def _generate(provider: Provider, ref: ModelRef, text: str, spec: ClassifySpec, labels: list[str]) -> TaskResult:
    template, model, prompt = _generate_request(provider, ref, text, spec, labels)
    answer, usage, calls = ask_structured(provider, ref, template, prompt, model)
    data = answer.model_dump()
    chosen = list(dict.fromkeys(data["labels"])) if spec.multi_label else data["label"]
    return TaskResult(_fields(spec, None, chosen, data.get("reason")), usage, calls)


def _scored(provider: Provider, ref: ModelRef, text: str, spec: ClassifySpec, labels: list[str]) -> TaskResult:
    usage, calls = Usage(0), 0
    scores: dict[str, float] = {}
    given, labels = labels, canonical(labels)
    if spec.multi_label:
        # Each label on its own: P(yes) against P(no) for "does this label apply?".
        for label in labels:
            prompt = (f"{_instructions(spec, labels, True)}\n\nText: {text}\n"
                      f"Does the label \"{label}\" apply to this text? Answer yes or no.")
            request = dataclasses.replace(spec.template, prompt=prompt)
            probs, used, n = option_probabilities(provider, ref, request, ["yes", "no"])
            scores[label], usage, calls = probs[0], usage + used, calls + n
    else:
        request = dataclasses.replace(spec.template, prompt=_prompt(text, spec, labels, label_only=True))
        probs, usage, calls = option_probabilities(provider, ref, request, labels)
        scores = dict(zip(labels, probs, strict=True))
    scores = {label: scores[label] for label in given}
    chosen = _pick(spec, scores)
    reason = None
    if spec.explain:
        reason, used, n = _reason(provider, ref, text, spec, labels, chosen)
        usage, calls = usage + used, calls + n
    return TaskResult(_fields(spec, scores if spec.scores else None, chosen, reason), usage, calls)


def canonical(labels: list[str]) -> list[str]:
    """The labels in the order a scored prompt lists them: sorted, so the answer cannot depend on the
    order --labels gave them in (a small model favours the label it read first)."""
    return sorted(labels, key=lambda label: (label.casefold(), label))


class _Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str


class _LocalReason(BaseModel):
    """A local model's reason, bounded so its grammar closes the JSON in time (a 135M model otherwise
    writes until the window is full)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., max_length=REASON_CHARS)


def _reason_request(provider: Provider, spec: ClassifySpec) -> tuple[CompletionRequest, type[BaseModel]]:
    if not provider.local:
        return spec.template, _Reason
    cap = spec.template.max_tokens or REASON_TOKENS
    return dataclasses.replace(spec.template, max_tokens=cap), _LocalReason


def _reason(provider: Provider, ref: ModelRef, text: str, spec: ClassifySpec, labels: list[str],
            chosen: str | list[str]) -> tuple[str, Usage, int]:
    shown = chosen if isinstance(chosen, str) else ", ".join(chosen) or "none of them"
    prompt = (f"{_instructions(spec, labels, True)}\n\nText: {text}\n\nThe answer is: {shown}. "
              "Say in one short sentence why.")
    template, model = _reason_request(provider, spec)
    answer, usage, calls = ask_structured(provider, ref, template, prompt, model)
    return str(answer.reason), usage, calls  # type: ignore[attr-defined]


def _nli(provider: Provider, ref: ModelRef, text: str, spec: ClassifySpec, labels: list[str]) -> TaskResult:
    hypotheses = [NLI_HYPOTHESIS.format(label=label) for label in labels]
    pairs, usage = provider.nli_logits(ref, text, hypotheses)  # type: ignore[attr-defined]
    if spec.multi_label:
        # Each label alone: entailment against contradiction, as transformers' zero-shot pipeline does.
        probs = [softmax([contra, entail])[1] for entail, contra in pairs]
    else:
        probs = softmax([entail for entail, _ in pairs])
    scores = dict(zip(labels, probs, strict=True))
    return TaskResult(_fields(spec, scores, _pick(spec, scores)), usage, 1)


def _head_results(provider: Provider, ref: ModelRef, texts: list[str], spec: ClassifySpec) -> list[TaskResult]:
    rows, usage = provider.classify_texts(ref, texts)  # type: ignore[attr-defined]
    total = sum(len(t) for t in texts) or 1
    results = []
    for text, scores in zip(texts, rows, strict=True):
        # One forward pass served the whole batch; each record carries its share of the tokens.
        share = Usage(round(usage.input_tokens * len(text) / total), 0, estimated=len(texts) > 1)
        results.append(TaskResult(_fields(spec, scores, _pick(spec, scores)), share, 1))
    return results


def classify(provider: Provider, ref: ModelRef, text: str, spec: ClassifySpec) -> TaskResult:
    """Classify one text; the record's fields are `label` (or `labels`), `scores` and, with explain, `reason`."""
    method = check(provider, ref, spec)
    if method == "head":
        return _head_results(provider, ref, [text], spec)[0]
    labels = list(spec.labels or [])
    if method == "nli":
        return _nli(provider, ref, text, spec, labels)
    if method == "scores":
        return _scored(provider, ref, text, spec, labels)
    return _generate(provider, ref, text, spec, labels)


def classify_many(provider: Provider, ref: ModelRef, texts: list[str], spec: ClassifySpec) -> list[TaskResult]:
    """Classify many texts; a classification head runs them in padded batches, the rest one by one."""
    if check(provider, ref, spec) == "head":
        return _head_results(provider, ref, texts, spec)
    return [classify(provider, ref, text, spec) for text in texts]


def planned_requests(provider: Provider, ref: ModelRef, text: str, spec: ClassifySpec
                     ) -> list[tuple[CompletionRequest, bool]]:
    """The requests `classify` sends for `text` when every answer validates (what --estimate counts),
    each with whether it is a structured answer (sent once more if it fails validation); none on an
    HF head, which reads the text alone."""
    method = check(provider, ref, spec)
    labels = list(spec.labels or [])
    if method in ("head", "nli"):
        return []
    if method == "generate":
        template, model, prompt = _generate_request(provider, ref, text, spec, labels)
        return [(structured_request(provider, ref, template, prompt, model), True)]
    one_token = dataclasses.replace(spec.template, max_tokens=1, temperature=0.0, json_schema=None, stream=False)
    labels = canonical(labels)
    if spec.multi_label:
        requests = [(dataclasses.replace(one_token, prompt=(
            f"{_instructions(spec, labels, True)}\n\nText: {text}\n"
            f"Does the label \"{label}\" apply to this text? Answer yes or no.")), False) for label in labels]
    else:
        requests = [(dataclasses.replace(one_token, prompt=_prompt(text, spec, labels, label_only=True)), False)]
    if spec.explain:
        shown = labels[0]
        prompt = (f"{_instructions(spec, labels, True)}\n\nText: {text}\n\nThe answer is: {shown}. "
                  "Say in one short sentence why.")
        template, model = _reason_request(provider, spec)
        requests.append((structured_request(provider, ref, template, prompt, model), True))
    return requests


#: texts a classification head reads in one padded batch
HEAD_BATCH = 64


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
                "request": template_settings(spec.template)}

    def check(self, ref: ModelRef, provider: Provider) -> str:
        method = check(provider, ref, self.spec)
        if method in ("generate", "scores"):
            provider.require(ref, COMPLETE)
            return COMPLETE
        return provider.head(ref) or COMPLETE

    def _on_head(self, ref: ModelRef, provider: Provider) -> bool:
        return check(provider, ref, self.spec) == "head"

    def chunk_for(self, ref: ModelRef, provider: Provider) -> int:
        return HEAD_BATCH if self._on_head(ref, provider) else 1

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        return classify(provider, ref, text, self.spec)

    def run_many(self, ref: ModelRef, provider: Provider, texts: Sequence[str]) -> list[Outcome]:
        return [outcome_of(r) for r in classify_many(provider, ref, list(texts), self.spec)]

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        planned = planned_requests(provider, ref, text, self.spec)
        if planned:
            return count_requests(ref, provider, tokenizer, [(r, 0) for r, _ in planned],
                                   [structured for _, structured in planned])
        if check(provider, ref, self.spec) == "nli":
            hypotheses = [NLI_HYPOTHESIS.format(label=label) for label in self.spec.labels or []]
            return Estimate(sum(tokenizer.count(text) + tokenizer.count(h) for h in hypotheses), 0)
        return Estimate(tokenizer.count(text), 0)
