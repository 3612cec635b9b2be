"""Token counts of the same inputs under several models' tokenizers: what `tokenize -m A -m B` compares."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from llmctl.core.inputs import InputItem
from llmctl.core.usage import Cost, Usage
from llmctl.providers.base import ModelRef, Tokenizer
from llmctl.providers.registry import get_tokenizer, resolve_model
from llmctl.run.records import price


@dataclass
class TokenCount:
    """One model's count of all the inputs, and what sending them as input would cost."""

    ref: ModelRef
    tokenizer: Tokenizer
    tokens: int
    cost: Cost

    @property
    def context_window(self) -> int | None:
        return self.ref.context_window or self.tokenizer.context_window

    def to_json(self) -> dict[str, Any]:
        return {"model": self.ref.label, "tokens": self.tokens,
                **({"estimated": True} if self.tokenizer.estimated else {}), "context_window": self.context_window,
                "tokenizer": self.tokenizer.name, "cost": self.cost.to_json()}


def count_with_models(names: Sequence[str], items: Sequence[InputItem], options: dict[str, Any]
                      ) -> list[TokenCount]:
    """Every model's count, the models' tokenizers loaded and run at once; in the order given."""
    refs = [resolve_model(name) for name in names]

    def count(ref: ModelRef) -> TokenCount:
        tokenizer: Tokenizer = get_tokenizer(ref, options)
        tokens = sum(tokenizer.count(item.text) for item in items)
        return TokenCount(ref, tokenizer, tokens, price(ref, None, Usage(input_tokens=tokens)))

    if len(refs) == 1:
        return [count(refs[0])]
    with ThreadPoolExecutor(max_workers=len(refs), thread_name_prefix="llmctl-tokenize") as pool:
        return list(pool.map(count, refs))
