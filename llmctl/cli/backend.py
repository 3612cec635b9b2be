"""Opening a model for a command: resolve the name, pick the backend, load it, price its usage."""

from __future__ import annotations

import time
from typing import Any

from llmctl.core.config import get_config
from llmctl.core.output import Output
from llmctl.core.pricing import PriceTable
from llmctl.core.usage import LOCAL_COST, Cost, Usage, format_money
from llmctl.providers.base import ModelRef, Provider
from llmctl.providers.registry import default_model_name, get_provider, resolve_model


def open_model(out: Output, name: str | None, capability: str, options: dict[str, Any],
               base_url: str | None = None) -> tuple[ModelRef, Provider]:
    """`options`: the backend options the user set (None or False: not set); foreign ones exit 2."""
    purpose = "embed" if capability == "embed" else "complete"
    ref = resolve_model(name or default_model_name(purpose=purpose), base_url=base_url)
    provider = get_provider(ref, {**options, "verbose": out.verbose})
    provider.require(ref, capability)
    started = time.perf_counter()
    with out.spinner(f"loading {ref.label}"):
        provider.load(ref, capability)
    # What loading the model took, kept on the provider for the records and the summary.
    provider.load_ms = round((time.perf_counter() - started) * 1000, 1) if provider.local else None
    show_warnings(out, provider)
    out.debug(f"model {ref.label} ({ref.kind} backend)")
    return ref, provider


def show_warnings(out: Output, provider: Provider) -> None:
    for message in provider.drain_warnings():
        out.warn(message)


def cost_of(ref: ModelRef, provider: Provider, usage: Usage) -> Cost:
    if provider.local:
        return LOCAL_COST
    return PriceTable(get_config()).cost_for(ref.provider, ref.model, ref.settings, usage)


def warn_unknown_price(out: Output, ref: ModelRef, cost: Cost) -> None:
    if not cost.local and cost.total is None:
        out.warn(f"no price is known for {ref.label}; cost is unknown (add one under [prices] in the config)")


def timing(provider: Provider, seconds: float) -> dict[str, float]:
    """`latency_ms` (the request) and, where a model was loaded, `load_ms`, for a record."""
    found = {"latency_ms": round(seconds * 1000, 1)}
    if getattr(provider, "load_ms", None) is not None:
        found["load_ms"] = provider.load_ms
    return found


def summary_line(ref: ModelRef, usage: Usage, cost: Cost, seconds: float, out: Output | None = None,
                 provider: Provider | None = None) -> str:
    """The stderr summary; its time is the whole command's wall time, then what load and request took."""
    tokens = f"{usage.input_tokens:,} in + {usage.output_tokens:,} out tokens"
    if usage.estimated:
        tokens += " (estimated)"
    money = "local" if cost.local else format_money(cost.total, cost.currency)
    if out is None:
        return f"{ref.label} · {tokens} · {money} · {seconds:.2f} s"
    wall = time.perf_counter() - out.started
    load_ms = getattr(provider, "load_ms", None)
    parts = ([f"load {load_ms / 1000:.2f} s"] if load_ms is not None else []) + [f"request {seconds:.2f} s"]
    return f"{ref.label} · {tokens} · {money} · {wall:.2f} s ({', '.join(parts)})"
