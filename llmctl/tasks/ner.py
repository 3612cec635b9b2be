"""ner: named entities with character offsets into the original text, found and verified there.

A generation model names entities as JSON; each one is looked up in the text (in order, each
mention once) and one that is not there is dropped and counted. An HF token-classification
head gives spans straight from its tags. Long texts are chunked and offsets mapped back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import COMPLETE, CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run.jobs import Estimate
from llmctl.tasks.chunking import context_window, split_text
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

    def check(self) -> None:
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


def locate(text: str, named: list[tuple[str, str]], base: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Offsets of each (surface, type) in `text`: the next mention after the previous one of the same
    surface, else the first unused one; names not in the text are dropped and counted."""
    found: list[dict[str, Any]] = []
    taken: set[tuple[int, int]] = set()
    cursor: dict[str, int] = {}
    dropped = 0
    for surface, kind in named:
        surface = surface.strip()
        if not surface:
            dropped += 1
            continue
        start = text.find(surface, cursor.get(surface, 0))
        while start >= 0 and (start, start + len(surface)) in taken:
            start = text.find(surface, start + 1)
        if start < 0:
            start = text.find(surface)
            while start >= 0 and (start, start + len(surface)) in taken:
                start = text.find(surface, start + 1)
        if start < 0:
            if surface in text:
                continue  # every mention already found: a repeat, not an invention
            dropped += 1
            continue
        end = start + len(surface)
        taken.add((start, end))
        cursor[surface] = end
        found.append({"text": surface, "type": kind, "start": base + start, "end": base + end})
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
    return TaskResult({"entities": entities, "chunks": len(spans), "dropped": 0}, usage, len(spans))


def planned_requests(provider: Provider, ref: ModelRef, text: str, spec: NerSpec,
                     count: Callable[[str], int] | None = None) -> list[CompletionRequest]:
    """The first request `ner` sends for each chunk of `text` (what --estimate counts); none on a head."""
    spec.check()
    if provider.head(ref) == "token-classification":
        return []
    types = spec.types or CONLL_TYPES
    answer = _answer_model(types, provider.local)
    count = count or provider.tokenizer(ref).count
    budget = context_window(provider, ref) - count(_prompt(types, "")) - ANSWER_TOKENS - 300
    if budget < 64:
        raise UsageError(f"{ref.label}'s window leaves no room for text beside the NER prompt (raise --n-ctx)")
    spans = split_text(text, count, budget) or [(0, len(text))]
    request = dataclasses.replace(spec.template, max_tokens=spec.template.max_tokens or ANSWER_TOKENS)
    return [structured_request(provider, ref, request, _prompt(types, text[a:b]), answer) for a, b in spans]


def ner(provider: Provider, ref: ModelRef, text: str, spec: NerSpec) -> TaskResult:
    """Entities of one text as {text, type, start, end}, offsets into `text`; `dropped` counts inventions."""
    spec.check()
    if provider.head(ref) == "token-classification":
        return _head_entities(provider, ref, text, spec)
    types = spec.types or CONLL_TYPES
    answer = _answer_model(types, provider.local)
    count = provider.tokenizer(ref).count
    budget = context_window(provider, ref) - count(_prompt(types, "")) - ANSWER_TOKENS - 300
    if budget < 64:
        raise UsageError(f"{ref.label}'s window leaves no room for text beside the NER prompt (raise --n-ctx)")
    spans = split_text(text, count, budget) or [(0, len(text))]
    entities: list[dict[str, Any]] = []
    usage, calls, dropped = Usage(0), 0, 0
    request = dataclasses.replace(spec.template, max_tokens=spec.template.max_tokens or ANSWER_TOKENS)
    for a, b in spans:
        chunk = text[a:b]
        result, used, n = ask_structured(provider, ref, request, _prompt(types, chunk), answer)
        usage, calls = usage + used, calls + n
        named = [(e.text, e.type) for e in result.entities]  # type: ignore[attr-defined]
        found, lost = locate(chunk, named, a)
        entities.extend(found)
        dropped += lost
    entities.sort(key=lambda e: (e["start"], e["end"]))
    if dropped:
        provider.warn(f"{ref.label} named {dropped} entit{'y' if dropped == 1 else 'ies'} that "
                      f"{'is' if dropped == 1 else 'are'} not in the text; dropped")
    return TaskResult({"entities": entities, "chunks": len(spans), "dropped": dropped}, usage, calls)


class NerJob(TaskJob):
    """`ner`: entities with character offsets into each text."""

    command = "ner"
    result_keys = ("entities", "chunks", "dropped", "calls")

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
