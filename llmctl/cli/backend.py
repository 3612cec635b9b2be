"""Opening a model for a command: resolve the name, pick the backend, load it, price its usage."""

from __future__ import annotations

from typing import Any

from llmctl.core.config import get_config
from llmctl.core.errors import UsageError
from llmctl.core.output import Output
from llmctl.core.pricing import PriceTable
from llmctl.core.usage import LOCAL_COST, Cost, Usage, format_money
from llmctl.providers.base import ModelRef, Provider
from llmctl.providers.registry import default_model_name, get_provider, resolve_model


def backend_options(**given: Any) -> dict[str, Any]:
    """Only the options the user set, checked for range; the provider reads them by name."""
    checks = {
        "timeout": lambda v: v > 0,
        "max_retries": lambda v: v >= 0,
        "n_ctx": lambda v: v >= 1,
        "threads": lambda v: v >= 1,
        "n_gpu_layers": lambda v: v >= -1,
    }
    options: dict[str, Any] = {}
    for key, value in given.items():
        if value is None or value is False:
            continue
        check = checks.get(key)
        if check is not None and not check(value):
            raise UsageError(f"--{key.replace('_', '-')} is out of range: {value}")
        options[key] = value
    return options


def open_model(out: Output, name: str | None, capability: str, options: dict[str, Any],
               base_url: str | None = None) -> tuple[ModelRef, Provider]:
    purpose = "embed" if capability == "embed" else "complete"
    ref = resolve_model(name or default_model_name(purpose=purpose), base_url=base_url)
    provider = get_provider(ref, options)
    provider.require(ref, capability)
    with out.spinner(f"loading {ref.label}"):
        provider.load(ref, capability)
    show_warnings(out, provider)
    out.debug(f"model {ref.label} ({ref.kind} backend)")
    return ref, provider


def show_warnings(out: Output, provider: Provider) -> None:
    for message in provider.drain_warnings():
        out.warn(message)


def cost_of(ref: ModelRef, provider: Provider, usage: Usage) -> Cost:
    if provider.local:
        return LOCAL_COST
    return PriceTable(get_config()).cost_of(ref.provider, ref.model, usage)


def warn_unknown_price(out: Output, ref: ModelRef, cost: Cost) -> None:
    if not cost.local and cost.total is None:
        out.warn(f"no price is known for {ref.label}; cost is unknown (add one under [prices] in the config)")


def summary_line(ref: ModelRef, usage: Usage, cost: Cost, seconds: float) -> str:
    tokens = f"{usage.input_tokens:,} in + {usage.output_tokens:,} out tokens"
    if usage.estimated:
        tokens += " (estimated)"
    money = "local" if cost.local else format_money(cost.total, cost.currency)
    return f"{ref.label} · {tokens} · {money} · {seconds:.2f} s"
