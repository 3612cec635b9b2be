"""The one record shape every model command writes, and the totals a run keeps per model."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from llmctl.core.config import get_config
from llmctl.core.errors import LlmctlError, ProviderError
from llmctl.core.pricing import PriceTable
from llmctl.core.usage import LOCAL_COST, Cost, Usage
from llmctl.providers.base import ModelRef, Provider
from llmctl.providers.registry import provider_class


def price(ref: ModelRef, provider: Provider | None, usage: Usage, *, batch: bool = False) -> Cost:
    """What `usage` costs on this model; local models cost 0, an unknown price is None."""
    if (provider if provider is not None else provider_class(ref.kind)).local:
        return LOCAL_COST
    # cost_for: a custom endpoint is unpriced unless its profile names a price table.
    return PriceTable(get_config()).cost_for(ref.provider, ref.model, ref.settings, usage, batch=batch)


def free(cost: Cost) -> Cost:
    """The cost of a cache hit: nothing, in the same currency."""
    return Cost(Decimal(0), Decimal(0), cost.currency, cost.price_as_of, cost.local)


def as_llmctl_error(exc: BaseException) -> LlmctlError:
    """A provider's failure as one of ours: a body that was not the promised JSON is a provider failure.
    Any other exception is a bug, which the runner raises rather than records (`runner.is_bug`)."""
    if isinstance(exc, LlmctlError):
        return exc
    if isinstance(exc, json.JSONDecodeError):
        return ProviderError(f"the response was not JSON ({exc.msg} at position {exc.pos})")
    return ProviderError(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


def error_fields(exc: BaseException) -> dict[str, str]:
    error = as_llmctl_error(exc)
    kind = type(exc).__name__ if isinstance(exc, LlmctlError) else type(error).__name__
    return {"type": kind, "message": error.one_line()}


def tokens_per_second(usage: Usage, latency_ms: float, ttft_ms: float | None) -> float | None:
    """Output tokens over the time spent generating them (after the first token when it is known)."""
    generating = latency_ms - (ttft_ms or 0.0)
    if usage.output_tokens < 1 or generating <= 0:
        return None
    tokens = usage.output_tokens - 1 if ttft_ms is not None and usage.output_tokens > 1 else usage.output_tokens
    return round(tokens / (generating / 1000), 1)


@dataclass
class ModelTotals:
    """What one model did in a run: for the summary line, the compare table and the exit code."""

    label: str
    local: bool = False
    ok: int = 0
    failed: int = 0
    cached: int = 0
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    cost: Decimal | None = Decimal(0)
    currency: str = "USD"
    saved: Decimal = Decimal(0)
    seconds: float = 0.0
    #: what loading the model took (local models), for the summary
    load_ms: float | None = None
    errors: list[str] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        if record.get("load_ms") is not None:
            self.load_ms = record["load_ms"]
        if record.get("error"):
            self.failed += 1
            self.errors.append(record["error"]["message"])
            return
        self.ok += 1
        usage = record.get("usage") or {}
        self.usage = self.usage + Usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0),
                                        usage.get("cached_input_tokens", 0), bool(usage.get("estimated")))
        cost = record.get("cost") or {}
        total = cost.get("total")
        self.local = self.local or bool(cost.get("local"))
        self.currency = cost.get("currency") or self.currency
        if record.get("cached"):
            self.cached += 1
            saved = record.get("saved")
            if saved is not None:
                self.saved += Decimal(str(saved))
        if total is None:
            self.cost = None
        elif self.cost is not None:
            self.cost += Decimal(str(total))


class Totals:
    """Thread-safe totals of a run, one ModelTotals per model label in the order given."""

    def __init__(self, labels: list[str]) -> None:
        self._lock = threading.Lock()
        self.by_model: dict[str, ModelTotals] = {label: ModelTotals(label) for label in labels}

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.by_model[record["model"]].add(record)

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.by_model.values())

    @property
    def count(self) -> int:
        return sum(t.ok + t.failed for t in self.by_model.values())
