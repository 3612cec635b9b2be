"""Cost math in Decimal from the price table; unknown prices are None, never zero."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from llmctl.core.config import get_config
from llmctl.core.errors import ConfigError
from llmctl.core.pricing import PriceTable
from llmctl.core.usage import Usage, format_money

REQUIRED = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini",
               "gpt-3.5-turbo-instruct", "text-embedding-3-small", "text-embedding-3-large",
               "text-embedding-ada-002"],
    "mistral": ["mistral-large-latest", "mistral-medium-latest", "mistral-small-latest", "open-mistral-nemo",
                "codestral-latest", "mistral-embed"],
}


@pytest.mark.parametrize(("provider", "model"), [(p, m) for p, ms in REQUIRED.items() for m in ms])
def test_every_required_model_has_a_dated_price(provider: str, model: str) -> None:
    price = PriceTable(get_config()).lookup(provider, model)
    assert price is not None and price.input is not None
    dt.date.fromisoformat(price.as_of)
    assert price.source.startswith("litellm ")  # the release whose copy of the list it is


def test_cost_is_exact_decimal_with_cached_input() -> None:
    table = PriceTable(get_config())
    cost = table.cost_of("openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=500, cached_input_tokens=400))
    # 600 * 2.50 + 400 * 1.25 = 2000 per 1M; 500 * 10 = 5000 per 1M
    assert cost.input == Decimal("0.002")
    assert cost.output == Decimal("0.005")
    assert cost.total == Decimal("0.007")
    assert cost.to_json()["total"] == 0.007


def test_batch_rates() -> None:
    cost = PriceTable(get_config()).cost_of("openai", "gpt-4o-mini", Usage(1_000_000, 1_000_000), batch=True)
    assert cost.input == Decimal("0.075") and cost.output == Decimal("0.30")


def test_unknown_model_cost_is_none_not_zero() -> None:
    cost = PriceTable(get_config()).cost_of("openai", "gpt-unknown", Usage(10, 10))
    assert cost.input is None and cost.total is None
    assert cost.to_json()["total"] is None
    assert format_money(None) == "price unknown"


def test_embedding_model_output_cost_is_zero_when_no_output() -> None:
    cost = PriceTable(get_config()).cost_of("openai", "text-embedding-3-small", Usage(1_000_000))
    assert cost.total == Decimal("0.02")


def test_prices_must_be_decimal_strings(user_config) -> None:
    user_config('[prices.openai."gpt-4o-2024-08-06"]\ninput = 2.5\noutput = "10"\nas_of = "2026-01-01"\n'
                'source = "x"\n')
    with pytest.raises(ConfigError, match="must be a decimal string"):
        PriceTable(get_config()).lookup("openai", "gpt-4o")


def test_stale_after_180_days() -> None:
    price = PriceTable(get_config()).lookup("openai", "gpt-4o")
    assert price is not None
    seen = dt.date.fromisoformat(price.as_of)
    assert not price.is_stale(seen + dt.timedelta(days=180))
    assert price.is_stale(seen + dt.timedelta(days=181))
