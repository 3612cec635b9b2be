"""The price table: per-1M-token rates from configs/prices.toml, cost math in Decimal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from llmctl.core.config import Config
from llmctl.core.errors import ConfigError
from llmctl.core.usage import Cost, Usage

PER_TOKENS = Decimal(1_000_000)
STALE_AFTER_DAYS = 180
RATE_FIELDS = ("input", "cached_input", "output", "batch_input", "batch_output")


@dataclass(frozen=True)
class Price:
    provider: str
    model: str
    input: Decimal | None
    output: Decimal | None
    cached_input: Decimal | None
    batch_input: Decimal | None
    batch_output: Decimal | None
    as_of: str
    source: str
    currency: str = "USD"

    def age_days(self, today: dt.date | None = None) -> int | None:
        try:
            seen = dt.date.fromisoformat(self.as_of)
        except ValueError:
            return None
        return ((today or dt.date.today()) - seen).days

    def is_stale(self, today: dt.date | None = None) -> bool:
        age = self.age_days(today)
        return age is None or age > STALE_AFTER_DAYS


def _rate(entry: dict[str, Any], key: str, where: str) -> Decimal | None:
    raw = entry.get(key)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ConfigError(f"price {where}.{key} must be a decimal string such as \"2.50\", not {raw!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ConfigError(f"price {where}.{key} is not a number: {raw!r}") from exc
    if value < 0 or not value.is_finite():
        raise ConfigError(f"price {where}.{key} must be a non-negative number: {raw!r}")
    return value


class PriceTable:
    """Looks up prices by provider and model, following `points_to` aliases from models.toml."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def entries(self) -> list[Price]:
        found = []
        for provider, table in sorted(self._config.prices.items()):
            for model in sorted(table):
                found.append(self._build(provider, model, table[model]))
        return found

    def _build(self, provider: str, model: str, entry: dict[str, Any]) -> Price:
        where = f"{provider}.{model}"
        if not isinstance(entry, dict):
            raise ConfigError(f"price {where} must be a table")
        return Price(
            provider=provider,
            model=model,
            input=_rate(entry, "input", where),
            output=_rate(entry, "output", where),
            cached_input=_rate(entry, "cached_input", where),
            batch_input=_rate(entry, "batch_input", where),
            batch_output=_rate(entry, "batch_output", where),
            as_of=str(entry.get("as_of", "unknown")),
            source=str(entry.get("source", "unknown")),
            currency=str(entry.get("currency", "USD")),
        )

    def lookup(self, provider: str, model: str) -> Price | None:
        table = self._config.prices.get(provider, {})
        seen: set[str] = set()
        name = model
        while name not in seen:
            seen.add(name)
            if name in table:
                return self._build(provider, name, table[name])
            spec = self._config.model_spec(provider, name) or {}
            target = spec.get("points_to")
            if not isinstance(target, str):
                return None
            name = target
        return None

    def cost_of(self, provider: str, model: str, usage: Usage, *, batch: bool = False) -> Cost:
        price = self.lookup(provider, model)
        if price is None:
            return Cost(None, None)
        input_rate = price.batch_input if batch and price.batch_input is not None else price.input
        output_rate = price.batch_output if batch and price.batch_output is not None else price.output
        input_cost: Decimal | None = None
        if input_rate is not None:
            cached = min(usage.cached_input_tokens, usage.input_tokens)
            cached_rate = price.cached_input if price.cached_input is not None else input_rate
            input_cost = (Decimal(usage.input_tokens - cached) * input_rate + Decimal(cached) * cached_rate)
            input_cost /= PER_TOKENS
        output_cost: Decimal | None
        if usage.output_tokens == 0:
            output_cost = Decimal(0)
        elif output_rate is None:
            output_cost = None
        else:
            output_cost = Decimal(usage.output_tokens) * output_rate / PER_TOKENS
        return Cost(input_cost, output_cost, currency=price.currency, price_as_of=price.as_of)
