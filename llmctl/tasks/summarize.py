"""summarize: any length of text, cut to the model's window and summarised map-reduce or by refining."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run.jobs import Estimate
from llmctl.tasks.chunking import context_window, split_text
from llmctl.tasks.fitness import warn_once, warn_unfit
from llmctl.tasks.job import TaskJob, count_requests, template_settings
from llmctl.tasks.result import TaskResult
from llmctl.tasks.summary_shape import WORDS_TOLERANCE, Shaped, shape

Style = Literal["paragraph", "bullets", "headline"]
Strategy = Literal["map-reduce", "refine"]
#: tokens kept free for the chat template's own tokens around a prompt
TEMPLATE_SLACK = 48
#: tokens an encoder-decoder's tokenizer adds around the text (and T5's "summarize: ")
SEQ2SEQ_SPECIALS = 8
ANSWER_TOKENS = {"paragraph": 256, "bullets": 320, "headline": 32}
_STYLE_TEXT = {
    "paragraph": "in one paragraph",
    "bullets": "as a bulleted list, one point per line, each line starting with '- '",
    "headline": "as one headline",
}
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SummarySpec:
    max_words: int | None = None
    max_tokens: int | None = None
    style: Style = "paragraph"
    language: str | None = None
    strategy: Strategy = "map-reduce"
    template: CompletionRequest = field(default_factory=lambda: CompletionRequest("", temperature=0.0))

    def check(self) -> None:
        if self.max_words is not None and self.max_words < 1:
            raise UsageError(f"--max-words must be at least 1, not {self.max_words}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1, not {self.max_tokens}")
        if self.style not in _STYLE_TEXT:
            raise UsageError(f"--style must be paragraph, bullets or headline, not {self.style!r}")
        if self.strategy not in ("map-reduce", "refine"):
            raise UsageError(f"--strategy must be map-reduce or refine, not {self.strategy!r}")

    @property
    def answer_tokens(self) -> int:
        if self.max_tokens is not None:
            return self.max_tokens
        if self.max_words is not None:
            # English runs about 1.3 tokens a word; the rest is room for the list marks and a last word.
            return self.max_words * 2 + 16
        return ANSWER_TOKENS[self.style]

    def instruction(self, what: str) -> str:
        words = f", in at most {self.max_words} words" if self.max_words else ""
        language = f" Write it in {self.language}." if self.language else ""
        return f"Summarize {what} {_STYLE_TEXT[self.style]}{words}.{language} Reply with the summary only."


def is_seq2seq(provider: Provider, ref: ModelRef) -> bool:
    """An encoder-decoder summariser (BART, T5): it reads the text itself, not an instruction."""
    return provider.encoder_decoder(ref) is not None


class _Run:
    """One document's calls: usage and call count add up across map, reduce and refine steps."""

    def __init__(self, provider: Provider, ref: ModelRef, spec: SummarySpec, progress: Progress | None) -> None:
        self.provider, self.ref, self.spec, self.progress = provider, ref, spec, progress
        self.usage, self.calls, self.planned = Usage(0), 0, 0
        #: why the last call's answer ended ("stop", "length": its token cap)
        self.finish: str | None = None
        self.count: Callable[[str], int] = provider.tokenizer(ref).count
        self.seq2seq = is_seq2seq(provider, ref)
        self.t5 = provider.encoder_decoder(ref) in ("t5", "mt5")

    def ask(self, instruction: str, text: str, final: bool) -> str:
        if self.seq2seq:
            prompt = f"summarize: {text}" if self.t5 else text
        else:
            prompt = f"{instruction}\n\nText:\n{text}"
        room = self.spec.answer_tokens if final else self.partial_tokens
        request = dataclasses.replace(self.spec.template, prompt=prompt, max_tokens=room, stream=False,
                                      json_schema=None, logprobs=None)
        completion = self.provider.complete(self.ref, request)
        self.usage, self.calls = self.usage + completion.usage, self.calls + 1
        self.finish = completion.finish_reason
        if self.progress is not None:
            self.progress(self.calls, max(self.planned, self.calls))
        return completion.text.strip()

    @property
    def partial_tokens(self) -> int:
        """Room for a chunk's own summary: --max-tokens bounds every call; else a paragraph's worth."""
        if self.spec.max_tokens is not None:
            return self.spec.max_tokens
        return max(ANSWER_TOKENS["paragraph"], self.spec.answer_tokens)

    def budget(self, instruction: str, extra: str = "") -> int:
        window = context_window(self.provider, self.ref)
        # An encoder-decoder reads only the text (and its own few special tokens).
        overhead = SEQ2SEQ_SPECIALS if self.seq2seq else \
            self.count(f"{instruction}\n\nText:\n{extra}") + TEMPLATE_SLACK
        answer = 0 if self.seq2seq else max(self.partial_tokens, self.spec.answer_tokens)
        room = window - overhead - answer
        if room < 64:
            raise UsageError(f"{self.ref.label}'s window of {window} tokens leaves no room for text after the "
                             f"prompt and a {answer}-token answer (lower --max-tokens or raise --n-ctx)")
        return room


def summarize(provider: Provider, ref: ModelRef, text: str, spec: SummarySpec,
              progress: Progress | None = None) -> TaskResult:
    """Summarise one text of any length; the record says `summary`, `chunks`, `strategy`, the final call's
    `finish_reason`, `method` (model, or extractive where the model copied the input), `words` and,
    with --max-words, `max_words_exceeded` (the limit holds within WORDS_TOLERANCE, whole sentences kept)."""
    spec.check()
    run = _Run(provider, ref, spec, progress)
    final = spec.instruction("the text")
    part = SummarySpec(style="paragraph", language=spec.language).instruction("this part of a longer document")
    budget = run.budget(part)
    if spec.strategy == "refine":
        # Each refine step reads the summary so far beside the next chunk.
        budget -= spec.answer_tokens + TEMPLATE_SLACK
        if budget < 64:
            raise UsageError(f"{ref.label}'s window is too small to refine a {spec.answer_tokens}-token summary "
                             "(lower --max-tokens, raise --n-ctx, or use map-reduce)")
    spans = split_text(text, run.count, budget)
    chunks = [text[a:b] for a, b in spans] or [text]
    if len(chunks) == 1:
        run.planned = 1
        summary = run.ask(final, chunks[0], True)
    elif spec.strategy == "refine":
        summary = _refine(run, chunks, final)
    else:
        summary = _map_reduce(run, chunks, part, final)
    cut = run.finish == "length"
    shaped = shape(summary, text, spec.style, spec.max_words, cut)
    _warn(provider, ref, spec, shaped, cut)
    fields = {"summary": shaped.summary, "chunks": len(chunks),
              "strategy": spec.strategy if len(chunks) > 1 else None, "finish_reason": run.finish,
              "method": shaped.method, "words": shaped.words, "max_words_exceeded": shaped.max_words_exceeded}
    return TaskResult(fields, run.usage, run.calls)


def _warn(provider: Provider, ref: ModelRef, spec: SummarySpec, shaped: Shaped, cut: bool) -> None:
    """What a record says in its fields, said once on stderr too (a batch would repeat it per record)."""
    warn_unfit(provider, ref, "summarize")
    if cut:
        warn_once(provider, f"{ref.label}: a summary reached its {spec.answer_tokens}-token cap and was cut "
                            "(finish_reason \"length\"); its unfinished last sentence is dropped "
                            "(raise --max-tokens for more room)")
    if shaped.method == "extractive":
        warn_once(provider, f"{ref.label} gave the text back or could not keep to --max-words; the record holds "
                            "the text's leading sentences instead (method \"extractive\")")
    if shaped.max_words_exceeded:
        warn_once(provider, f"{ref.label}: a summary has {shaped.words} words, over --max-words {spec.max_words} "
                            f"and its {round(WORDS_TOLERANCE * 100)}% tolerance even as one sentence "
                            "(max_words_exceeded in the record)")


def planned_calls(provider: Provider, ref: ModelRef, text: str, spec: SummarySpec,
                  count: Callable[[str], int] | None = None) -> list[tuple[CompletionRequest, int]]:
    """The calls `summarize` will make for `text`, each as its request and the most tokens of earlier
    answers (partial summaries) its prompt will carry beside what is known now (what --estimate counts).

    Map-reduce partials that overflow the window again are summarised once more: those extra calls
    are not foreseen here.
    """
    spec.check()
    run = _Run(provider, ref, spec, None)
    if count is not None:
        run.count = count
    final = spec.instruction("the text")
    part = SummarySpec(style="paragraph", language=spec.language).instruction("this part of a longer document")
    budget = run.budget(part)
    if spec.strategy == "refine":
        budget -= spec.answer_tokens + TEMPLATE_SLACK
    spans = split_text(text, run.count, budget)
    chunks = [text[a:b] for a, b in spans] or [text]

    def request(instruction: str, body: str, final_answer: bool) -> CompletionRequest:
        prompt = (f"summarize: {body}" if run.t5 else body) if run.seq2seq else f"{instruction}\n\nText:\n{body}"
        room = spec.answer_tokens if final_answer else run.partial_tokens
        return dataclasses.replace(spec.template, prompt=prompt, max_tokens=room, stream=False, json_schema=None,
                                   logprobs=None)

    if len(chunks) == 1:
        return [(request(final, chunks[0], True), 0)]
    if spec.strategy == "refine":
        calls = [(request(final, chunks[0], True), 0)]
        for chunk in chunks[1:]:
            instruction = (f"Here is a summary of a document so far:\n\n\nRefine it with the next part of "
                           f"the document below. {final}")
            calls.append((request(instruction, chunk, True), spec.answer_tokens))
        return calls
    combine = spec.instruction("these summaries of consecutive parts of one document as one summary")
    calls = [(request(part, chunk, False), 0) for chunk in chunks]
    calls.append((request(combine, "", True), len(chunks) * run.partial_tokens))
    return calls


def _map_reduce(run: _Run, chunks: list[str], part: str, final: str) -> str:
    combine = run.spec.instruction("these summaries of consecutive parts of one document as one summary")
    run.planned = len(chunks) + 1
    partials = [run.ask(part, chunk, False) for chunk in chunks]
    while True:
        joined = "\n\n".join(partials)
        budget = run.budget(combine)
        if run.count(joined) <= budget or len(partials) == 1:
            return run.ask(combine, joined, True)
        # The partial summaries still overflow the window: summarise them again, group by group.
        groups = split_text(joined, run.count, budget)
        run.planned += len(groups)
        partials = [run.ask(part, joined[a:b], False) for a, b in groups]


def _refine(run: _Run, chunks: list[str], final: str) -> str:
    run.planned = len(chunks)
    summary = run.ask(final, chunks[0], True)
    for chunk in chunks[1:]:
        if run.seq2seq:
            summary = run.ask(final, f"{summary}\n\n{chunk}", True)
            continue
        instruction = (f"Here is a summary of a document so far:\n{summary}\n\nRefine it with the next part of "
                       f"the document below. {final}")
        summary = run.ask(instruction, chunk, True)
    return summary


class SummarizeJob(TaskJob):
    """`summarize`: one summary per text, however long (chunks, map-reduce or refine)."""

    command = "summarize"
    result_keys = ("summary", "chunks", "strategy", "finish_reason", "method", "words", "max_words_exceeded",
                   "calls")

    def __init__(self, spec: SummarySpec, progress: Callable[[int, int], None] | None = None) -> None:
        super().__init__(spec.template)
        self.spec = spec
        #: called with (calls made, calls planned) as a single document's calls go
        self.progress = progress

    def settings(self) -> dict[str, Any]:
        spec = self.spec
        return {"max_words": spec.max_words, "max_tokens": spec.max_tokens, "style": spec.style,
                "language": spec.language, "strategy": spec.strategy, "request": template_settings(spec.template)}

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        return summarize(provider, ref, text, self.spec, self.progress)

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        calls = planned_calls(provider, ref, text, self.spec, tokenizer.count)
        return count_requests(ref, provider, tokenizer, calls)
