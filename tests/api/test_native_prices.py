"""Anthropic and Gemini prices: read from LiteLLM's list like the others, and every shipped model priced."""

from __future__ import annotations

import datetime as dt
import json
import tomllib

import pytest

from llmctl.core.config import get_config, shipped_config_dir
from llmctl.core.errors import InputError
from llmctl.core.price_list import parse
from llmctl.core.pricing import PriceTable

LIST = {
    "claude-sonnet-4-5": {"litellm_provider": "anthropic", "mode": "chat", "input_cost_per_token": 3e-06,
                          "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07,
                          "cache_creation_input_token_cost": 3.75e-06},
    "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 1.25e-06,
                              "output_cost_per_token": 1e-05, "input_cost_per_token_above_200k_tokens": 2.5e-06,
                              "output_cost_per_token_above_200k_tokens": 1.5e-05},
    # The same name without the prefix, at other rates: the API's own (gemini/) entry is the one taken.
    "gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 9e-06,
                       "output_cost_per_token": 9e-05},
}


def test_the_list_gives_anthropic_and_gemini_entries_under_their_api_names() -> None:
    found = parse(json.dumps(LIST), "list.json", dt.date(2026, 9, 29), InputError).entries
    assert found["anthropic"]["claude-sonnet-4-5"] == {
        "input": "3", "cached_input": "0.3", "output": "15", "as_of": "2026-09-29", "source": "list.json"}
    assert found["gemini"]["gemini-2.5-pro"] == {
        "input": "1.25", "output": "10", "input_long": "2.5", "output_long": "15", "long_context_above": 200000,
        "as_of": "2026-09-29", "source": "list.json"}


def _shipped(provider: str) -> list[str]:
    with (shipped_config_dir() / "models.toml").open("rb") as fh:
        return list(tomllib.load(fh)["models"][provider])


@pytest.mark.parametrize(("provider", "model"), [(p, m) for p in ("anthropic", "gemini") for m in _shipped(p)])
def test_every_shipped_model_has_a_window_an_output_limit_and_a_price(provider: str, model: str) -> None:
    config = get_config()
    spec = config.model_spec(provider, model) or {}
    assert spec["context_window"] > 0 and spec["max_output"] > 0
    price = PriceTable(config, fetched={}).lookup(provider, model)
    assert price is not None and price.input is not None and price.output is not None
    source = "litellm 1.110.2 (model_prices_and_context_window_backup.json)"
    assert (price.as_of, price.source) == ("2026-09-29", source)
