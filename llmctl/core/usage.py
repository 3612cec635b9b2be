"""Token usage and money: the small value types every result carries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Tokens a call used. `estimated` is true when counted locally, not reported by the server."""

    input_tokens: int
    output_tokens: int = 0
    cached_input_tokens: int = 0
    estimated: bool = False
    #: What counted an estimate (`tiktoken:o200k_base`, `gguf:smollm2`); None when the server reported.
    tokenizer: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "estimated": self.estimated,
        }
        if self.cached_input_tokens:
            record["cached_input_tokens"] = self.cached_input_tokens
        if self.tokenizer:
            record["tokenizer"] = self.tokenizer
        return record

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.estimated or other.estimated,
            self.tokenizer or other.tokenizer,
        )


@dataclass(frozen=True)
class Cost:
    """What a call cost. `None` amounts mean the price is unknown (never a made-up zero)."""

    input: Decimal | None
    output: Decimal | None
    currency: str = "USD"
    price_as_of: str | None = None
    local: bool = False

    @property
    def total(self) -> Decimal | None:
        if self.input is None or self.output is None:
            return None
        return self.input + self.output

    @property
    def known(self) -> bool:
        return self.total is not None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "input": _number(self.input),
            "output": _number(self.output),
            "total": _number(self.total),
            "currency": self.currency,
            "price_as_of": self.price_as_of,
        }
        if self.local:
            record["local"] = True
        return record


LOCAL_COST = Cost(Decimal(0), Decimal(0), local=True)


def _number(value: Decimal | None) -> float | int | None:
    """A Decimal as a JSON number, exact to the digits the price table gives."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def format_money(value: Decimal | None, currency: str = "USD") -> str:
    if value is None:
        return "price unknown"
    symbol = "$" if currency == "USD" else f"{currency} "
    if value == 0:
        return f"{symbol}0"
    text = f"{value.normalize():f}"
    return f"{symbol}{text}"
