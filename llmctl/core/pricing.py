"""The price table: per-1M-token rates, cost math in Decimal.

Three layers, each entry taken whole from the first that has it: the user's own [prices] entries,
then a list fetched by `llmctl prices update` (the user data folder), then configs/prices.toml.
A profile's models are priced from its own `[prices.<profile>]` table, then the table its
`prices` key names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from llmctl.core.config import BackendSettings, Config
from llmctl.core.errors import ConfigError
from llmctl.core.usage import Cost, Usage

PER_TOKENS = Decimal(1_000_000)
STALE_AFTER_DAYS = 180
RATE_FIELDS = ("input", "cached_input", "output", "batch_input", "batch_output",
               "input_long", "cached_input_long", "output_long")


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
    #: Past this many input tokens the whole request is billed at the `*_long` rates.
    long_context_above: int | None = None
    input_long: Decimal | None = None
    cached_input_long: Decimal | None = None
    output_long: Decimal | None = None

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


def price_tables(provider: str, settings: BackendSettings) -> list[str]:
    """The [prices.*] tables a model's usage is looked up in, first match wins; empty where nobody can say.

    An API's own model: its provider's table. A profile is somebody's own server: its own
    `[prices.<profile>]` table, then the table its `prices` key names (`prices = "openai"` for a
    proxy in front of OpenAI itself). An ad hoc --base-url endpoint has no table of its own.
    """
    if not settings.custom_endpoint:
        return [provider]
    tables: list[str] = []
    for name in (settings.profile, settings.prices):
        if name and name not in tables:
            tables.append(name)
    return tables


def priced_as(provider: str, settings: BackendSettings) -> str | None:
    """The first table of price_tables, or None where nobody can say."""
    tables = price_tables(provider, settings)
    return tables[0] if tables else None


def _toml_key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() and name.isascii() else f'"{name}"'


def price_hint(provider: str, model: str, settings: BackendSettings) -> str:
    """Where llmctl looked for a model's price and where the user can add one, for an 'unknown cost' line."""
    tables = price_tables(provider, settings)
    if not tables:
        return "an ad hoc --base-url endpoint is unpriced; make it a profile and price it under [prices.PROFILE]"
    looked = " and ".join(f"[prices.{_toml_key(t)}]" for t in tables)
    return f'looked in {looked}; add [prices.{_toml_key(tables[0])}."{model}"] to the config'


def _threshold(entry: dict[str, Any], where: str) -> int | None:
    raw = entry["long_context_above"] if "long_context_above" in entry else None
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ConfigError(f"price {where}.long_context_above must be a whole number of tokens, not {raw!r}")
    return raw


class PriceTable:
    """Looks up prices by provider and model, following `points_to` aliases from models.toml."""

    def __init__(self, config: Config, fetched: dict[str, Any] | None = None) -> None:
        self._config = config
        if fetched is None:
            from llmctl.core.price_list import load_fetched

            stored = load_fetched()
            fetched = stored.entries if stored is not None else {}
        self._fetched = fetched

    def _table(self, provider: str) -> dict[str, Any]:
        """One provider's entries, each whole from the first layer that has it."""
        merged: dict[str, Any] = dict(self._config.prices.get(provider, {}))
        merged.update(self._fetched.get(provider, {}))
        merged.update(self._config.user_prices.get(provider, {}))
        return merged

    def providers(self) -> list[str]:
        return sorted(set(self._config.prices) | set(self._fetched) | set(self._config.user_prices))

    def entries(self) -> list[Price]:
        found = []
        for provider in self.providers():
            table = self._table(provider)
            for model in sorted(table):
                found.append(self._build(provider, model, table[model]))
        return found

    def _build(self, provider: str, model: str, entry: dict[str, Any]) -> Price:
        where = f"{provider}.{model}"
        if not isinstance(entry, dict):
            raise ConfigError(f"price {where} must be a table")
        labels = {"as_of": "unknown", "source": "unknown", "currency": "USD", **entry}
        return Price(
            provider=provider,
            model=model,
            input=_rate(entry, "input", where),
            output=_rate(entry, "output", where),
            cached_input=_rate(entry, "cached_input", where),
            batch_input=_rate(entry, "batch_input", where),
            batch_output=_rate(entry, "batch_output", where),
            as_of=str(labels["as_of"]),
            source=str(labels["source"]),
            currency=str(labels["currency"]),
            long_context_above=_threshold(entry, where),
            input_long=_rate(entry, "input_long", where),
            cached_input_long=_rate(entry, "cached_input_long", where),
            output_long=_rate(entry, "output_long", where),
        )

    def lookup(self, provider: str, model: str) -> Price | None:
        table = self._table(provider)
        seen: set[str] = set()
        name = model
        while name not in seen:
            seen.add(name)
            if name in table:
                return self._build(provider, name, table[name])
            target = self._config.points_to(provider, name)
            if target is None:
                return None
            name = target
        return None

    def find(self, provider: str, model: str, settings: BackendSettings) -> Price | None:
        """The price of a model as resolved, from the first of its price_tables that has it."""
        for table in price_tables(provider, settings):
            price = self.lookup(table, model)
            if price is not None:
                return price
        return None

    def cost_for(self, provider: str, model: str, settings: BackendSettings, usage: Usage, *,
                 batch: bool = False) -> Cost:
        """cost_of for a model as resolved: a custom endpoint is priced by its profile's tables only."""
        return self.cost_at(self.find(provider, model, settings), usage, batch=batch)

    def cost_of(self, provider: str, model: str, usage: Usage, *, batch: bool = False) -> Cost:
        return self.cost_at(self.lookup(provider, model), usage, batch=batch)

    @staticmethod
    def cost_at(price: Price | None, usage: Usage, *, batch: bool = False) -> Cost:
        if price is None:
            return Cost(None, None)
        input_rate = price.batch_input if batch and price.batch_input is not None else price.input
        output_rate = price.batch_output if batch and price.batch_output is not None else price.output
        cached_base = price.cached_input
        if price.long_context_above is not None and usage.input_tokens > price.long_context_above:
            if batch:
                return Cost(None, None)  # no list gives batch rates for long prompts
            # A long prompt moves the whole request to the long-context rates.
            input_rate = price.input_long if price.input_long is not None else input_rate
            output_rate = price.output_long if price.output_long is not None else output_rate
            cached_base = price.cached_input_long if price.cached_input_long is not None else cached_base
        input_cost: Decimal | None = None
        if input_rate is not None:
            cached = min(usage.cached_input_tokens, usage.input_tokens)
            cached_rate = cached_base if cached_base is not None else input_rate
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
