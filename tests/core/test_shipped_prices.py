"""configs/prices.toml as shipped: one refresh, every entry as recent as the rest, every shipped model priced."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from llmctl.core.config import get_config, shipped_config_dir
from llmctl.core.pricing import STALE_AFTER_DAYS, PriceTable


def _shipped() -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    with (shipped_config_dir() / "prices.toml").open("rb") as fh:
        prices = tomllib.load(fh)["prices"]
    return [(provider, model, entry) for provider, table in prices.items() for model, entry in table.items()]


def test_no_shipped_price_lags_the_newest_by_more_than_the_stale_limit() -> None:
    dated = {f"{p}:{m}": dt.date.fromisoformat(e["as_of"]) for p, m, e in _shipped()}
    newest = max(dated.values())
    behind = {name: (newest - day).days for name, day in dated.items() if (newest - day).days > STALE_AFTER_DAYS}
    assert behind == {}, f"older than {STALE_AFTER_DAYS} days before {newest}: {behind}"


def test_every_shipped_price_names_its_source_and_date() -> None:
    for provider, model, entry in _shipped():
        assert entry.get("source"), f"{provider}:{model} has no source"
        assert dt.date.fromisoformat(entry["as_of"]) <= dt.date.today(), f"{provider}:{model} is dated ahead"


def _aliases() -> list[tuple[str, str]]:
    """Every `points_to` alias configs/models.toml ships for the priced APIs."""
    with (shipped_config_dir() / "models.toml").open("rb") as fh:
        models = tomllib.load(fh)["models"]
    return [(provider, name) for provider in ("openai", "mistral") for name, spec in models[provider].items()
            if spec.get("points_to")]


@pytest.mark.parametrize(("provider", "alias"), _aliases())
def test_every_alias_in_models_toml_has_a_price(provider: str, alias: str) -> None:
    price = PriceTable(get_config(), fetched={}).lookup(provider, alias)
    assert price is not None and price.input is not None, f"{provider}:{alias} has no price"
