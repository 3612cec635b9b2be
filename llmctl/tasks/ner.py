"""ner: named entities with character offsets into the original text, found and verified there.

A generation model names entities as JSON; each one is looked up in the text (in order, each
mention once; as written, else ignoring case, spacing and edge punctuation) and one that is not
there is dropped and listed in the record. An HF token-classification
head gives spans straight from its tags. Long texts are chunked and offsets mapped back.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import COMPLETE, CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run.jobs import Estimate
from llmctl.tasks.chunking import context_window, split_text
from llmctl.tasks.fitness import warn_unfit
from llmctl.tasks.job import TaskJob, count_requests, template_settings
from llmctl.tasks.result import TaskResult
from llmctl.tasks.structured import ask_structured, structured_request

#: the CoNLL-2003 entity types, the default set
CONLL_TYPES = ["PER", "ORG", "LOC", "MISC"]
_DESCRIBED = {"PER": "people", "ORG": "organisations", "LOC": "places", "MISC": "other proper names",
              "DATE": "dates", "MONEY": "amounts of money", "PRODUCT": "products", "EVENT": "events"}
#: tokens kept for the entity list a chunk's answer may hold
ANSWER_TOKENS = 1024
#: entities a local model may list per chunk: the grammar then closes the list in time, where a
#: small model would otherwise repeat entries until the answer is cut off mid-JSON
LOCAL_MAX_ENTITIES = 10
#: characters an entity's text may have from a local model; near the limit the grammar lets only
#: single characters through, so the worst case (10 entities, a token a character) still fits
LOCAL_MAX_ENTITY_CHARS = 60
#: the special tokens a head's tokenizer adds around a chunk
HEAD_SPECIALS = 4


@dataclass(frozen=True)
class NerSpec:
    types: list[str] | None = None
    template: CompletionRequest = field(default_factory=lambda: CompletionRequest("", temperature=0.0))

    @property
    def answer_tokens(self) -> int:
        """Room for each chunk's entity list: --max-tokens, else ANSWER_TOKENS."""
        return self.template.max_tokens or ANSWER_TOKENS

    def check(self) -> None:
        if self.template.max_tokens is not None and self.template.max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1, not {self.template.max_tokens}")
        if self.types is not None:
            if not self.types:
                raise UsageError("--types names no type")
            if len(set(self.types)) != len(self.types):
                raise UsageError("--types names a type twice")


def parse_types(given: str | None) -> list[str] | None:
    if given is None:
        return None
    return [t.strip() for t in given.split(",") if t.strip()]


def _answer_model(types: list[str], local: bool) -> type[BaseModel]:
    kind: Any = Literal[tuple(types)]  # type: ignore[valid-type]
    max_items, max_chars = (LOCAL_MAX_ENTITIES, LOCAL_MAX_ENTITY_CHARS) if local else (None, None)
    entity = create_model("Entity", __config__=ConfigDict(extra="forbid"),
                          text=(str, Field(..., max_length=max_chars)), type=(kind, ...))
    listed: Any = list[entity]  # type: ignore[valid-type]
    return create_model("NerAnswer", __config__=ConfigDict(extra="forbid"),
                        entities=(listed, Field(..., max_length=max_items)))


def _prompt(types: list[str], chunk: str) -> str:
    described = ", ".join(f"{t} ({_DESCRIBED[t]})" if t in _DESCRIBED else t for t in types)
    return (f"Find the named entities in the text. Types: {described}. Copy each entity's text exactly as it "
            f"is written in the text, list every mention in order of appearance, and list nothing that is not "
            f"in the text. If there are none, give an empty list.\n\nText:\n{chunk}")


#: what a model may add around an entity's text that the text does not have there
_EDGE_MARKS = "\"'`“”‘’«».,;:!?()[]{}"


def _patterns(surface: str) -> list[re.Pattern[str]]:
    """How to look for a named entity: as written, then ignoring case, spacing and quotes or
    punctuation a model put around it (a small model often writes "barack obama" or "Obama ,")."""
    exact = re.compile(re.escape(surface))
    words = surface.strip(_EDGE_MARKS + " ").split()
    if not words:
        return [exact]
    loose = r"\s+".join(re.escape(w) for w in words)
    # Whole words only: "us" ignoring case must not land inside "because".
    left = r"(?<!\w)" if words[0][0].isalnum() else ""
    right = r"(?!\w)" if words[-1][-1].isalnum() else ""
    return [exact, re.compile(left + loose + right, re.IGNORECASE)]


def _next_free(pattern: re.Pattern[str], text: str, start_at: int, taken: set[tuple[int, int]],
               apart: bool) -> tuple[int, int] | None:
    """The first match from `start_at` not found before (`apart`: overlapping none found before)."""
    for match in pattern.finditer(text, start_at):
        a, b = match.start(), match.end()
        if b <= a or (a, b) in taken or (apart and any(a < end and start < b for start, end in taken)):
            continue
        return a, b
    return None


def locate(text: str, named: list[tuple[str, str]], base: int = 0
           ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Offsets of each (surface, type) in `text`: the next mention after the previous one of the same
    surface, else the first unused one; as written, else ignoring case, spacing and edge punctuation
    (the entity's text is then the text's own). Names not in the text come back as dropped."""
    found: list[dict[str, Any]] = []
    dropped: list[dict[str, str]] = []
    taken: set[tuple[int, int]] = set()
    cursor: dict[str, int] = {}
    for surface, kind in named:
        surface = surface.strip()
        if not surface:
            dropped.append({"text": surface, "type": kind})
            continue
        key = " ".join(surface.lower().split())
        span, seen = None, False
        for loose, pattern in enumerate(_patterns(surface)):
            # A loose match must not overlap one found before: "Obama." is "Obama" again, not a new entity.
            span = (_next_free(pattern, text, cursor.get(key, 0), taken, bool(loose))
                    or _next_free(pattern, text, 0, taken, bool(loose)))
            seen = seen or pattern.search(text) is not None
            if span is not None:
                break
        if span is None:
            if not seen:
                dropped.append({"text": surface, "type": kind})
            continue  # else every mention is already found: a repeat, not an invention
        start, end = span
        taken.add(span)
        cursor[key] = end
        found.append({"text": text[start:end], "type": kind, "start": base + start, "end": base + end})
    return found, dropped


def _head_entities(provider: Provider, ref: ModelRef, text: str, spec: NerSpec) -> TaskResult:
    tokenizer = provider.tokenizer(ref)
    budget = context_window(provider, ref) - HEAD_SPECIALS
    spans = split_text(text, tokenizer.count, budget) or [(0, len(text))]
    entities: list[dict[str, Any]] = []
    usage = Usage(0)
    for a, b in spans:
        found, used = provider.token_entities(ref, text[a:b])  # type: ignore[attr-defined]
        usage = usage + used
        for entity in found:
            entity["start"] += a
            entity["end"] += a
            if spec.types is None or entity["type"] in spec.types:
                entities.append({"text": entity["text"], "type": entity["type"], "start": entity["start"],
                                 "end": entity["end"], "score": entity["score"]})
    return TaskResult({"entities": entities, "chunks": len(spans), "dropped": 0, "dropped_entities": []},
                      usage, len(spans))


def planned_requests(provider: Provider, ref: ModelRef, text: str, spec: NerSpec,
                     count: Callable[[str], int] | None = None) -> list[CompletionRequest]:
    """The first request `ner` sends for each chunk of `text` (what --estimate counts); none on a head."""
    spec.check()
    if provider.head(ref) == "token-classification":
        return []
    types = spec.types or CONLL_TYPES
    answer = _answer_model(types, provider.local)
    count = count or provider.tokenizer(ref).count
    budget = context_window(provider, ref) - count(_prompt(types, "")) - spec.answer_tokens - 300
    if budget < 64:
        raise UsageError(f"{ref.label}'s window leaves no room for text beside the NER prompt (raise --n-ctx)")
    spans = split_text(text, count, budget) or [(0, len(text))]
    request = dataclasses.replace(spec.template, max_tokens=spec.answer_tokens)
    return [structured_request(provider, ref, request, _prompt(types, text[a:b]), answer) for a, b in spans]


def ner(provider: Provider, ref: ModelRef, text: str, spec: NerSpec) -> TaskResult:
    """Entities of one text as {text, type, start, end}, offsets into `text`; `dropped` counts inventions."""
    spec.check()
    if provider.head(ref) == "token-classification":
        return _head_entities(provider, ref, text, spec)
    warn_unfit(provider, ref, "ner")
    types = spec.types or CONLL_TYPES
    answer = _answer_model(types, provider.local)
    count = provider.tokenizer(ref).count
    budget = context_window(provider, ref) - count(_prompt(types, "")) - spec.answer_tokens - 300
    if budget < 64:
        raise UsageError(f"{ref.label}'s window leaves no room for text beside the NER prompt (raise --n-ctx)")
    spans = split_text(text, count, budget) or [(0, len(text))]
    entities: list[dict[str, Any]] = []
    usage, calls = Usage(0), 0
    dropped: list[dict[str, str]] = []
    request = dataclasses.replace(spec.template, max_tokens=spec.answer_tokens)
    for a, b in spans:
        chunk = text[a:b]
        result, used, n = ask_structured(provider, ref, request, _prompt(types, chunk), answer)
        usage, calls = usage + used, calls + n
        named = [(e.text, e.type) for e in result.entities]  # type: ignore[attr-defined]
        found, lost = locate(chunk, named, a)
        entities.extend(found)
        dropped.extend(lost)
    entities.sort(key=lambda e: (e["start"], e["end"]))
    if dropped:
        n = len(dropped)
        provider.warn(f"{ref.label} named {n} entit{'y' if n == 1 else 'ies'} that {'is' if n == 1 else 'are'} "
                      "not in the text; dropped (listed in the record's dropped_entities; -v shows them)")
    return TaskResult({"entities": entities, "chunks": len(spans), "dropped": len(dropped),
                       "dropped_entities": dropped}, usage, calls)


class NerJob(TaskJob):
    """`ner`: entities with character offsets into each text."""

    command = "ner"
    result_keys = ("entities", "chunks", "dropped", "dropped_entities", "calls")

    def __init__(self, spec: NerSpec) -> None:
        super().__init__(spec.template)
        self.spec = spec

    def settings(self) -> dict[str, Any]:
        return {"types": self.spec.types, "request": template_settings(self.spec.template)}

    def check(self, ref: ModelRef, provider: Provider) -> str:
        if provider.head(ref) == "token-classification":
            return "token-classification"
        provider.require(ref, COMPLETE)
        return COMPLETE

    def run_task(self, ref: ModelRef, provider: Provider, text: str) -> TaskResult:
        return ner(provider, ref, text, self.spec)

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        requests = planned_requests(provider, ref, text, self.spec, tokenizer.count)
        if not requests:
            return Estimate(tokenizer.count(text), 0)
        return count_requests(ref, provider, tokenizer, [(r, 0) for r in requests], [True] * len(requests))
