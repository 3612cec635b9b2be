"""A profile is priced by its own [prices.<profile>] table; an unpriced model's warning names where llmctl looked."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from support.fault_server import FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app

# The fault server reports 11 prompt and 6 completion tokens for every chat.
PROMPT, COMPLETION = 11, 6
PRICE = 'input = "1.00"\noutput = "2.00"\nas_of = "2026-11-01"\nsource = "our GPU bill"\n'


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _cost(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.stderr
    cost: dict = json.loads(result.stdout)["cost"]
    return cost


def test_a_profile_is_priced_by_its_own_table_alone(faults: FaultServer, user_config) -> None:
    user_config(f'[profiles.fake]\nkind = "openai"\nbase_url = "{faults.base_url}"\n\n[prices.fake."ok-a"]\n{PRICE}')
    result = _cli("complete", "-m", "fake:ok-a", "--json", "hi")
    cost = _cost(result)
    assert Decimal(str(cost["input"])) == Decimal(PROMPT) * Decimal("1.00") / 1_000_000
    assert Decimal(str(cost["output"])) == Decimal(COMPLETION) * Decimal("2.00") / 1_000_000
    assert cost["price_as_of"] == "2026-11-01"
    assert "no price is known" not in result.stderr
    # The same table prices what tokenize says sending it would cost.
    counted = json.loads(_cli("tokenize", "-m", "fake:ok-a", "--json", "hi").stdout)
    assert counted["cost"]["input"] is not None


def test_its_own_table_comes_before_the_one_it_names(faults: FaultServer, user_config) -> None:
    user_config(f'[profiles.proxy]\nkind = "openai"\nbase_url = "{faults.base_url}"\nprices = "openai"\n\n'
                f'[prices.proxy."gpt-4o"]\n{PRICE}')
    own = _cost(_cli("complete", "-m", "proxy:gpt-4o", "--json", "hi"))
    assert own["price_as_of"] == "2026-11-01"
    assert Decimal(str(own["input"])) == Decimal(PROMPT) / 1_000_000
    # A model its own table lacks is priced from the table it names (gpt-4o-mini: $0.15 / $0.60 per 1M).
    named = _cost(_cli("complete", "-m", "proxy:gpt-4o-mini", "--json", "hi"))
    assert named["input"] == pytest.approx(PROMPT * 0.15 / 1e6)
    assert named["output"] == pytest.approx(COMPLETION * 0.60 / 1e6)


def test_the_unpriced_warning_names_the_tables_it_looked_in(faults: FaultServer, user_config) -> None:
    user_config(f'[profiles.fake]\nkind = "openai"\nbase_url = "{faults.base_url}"\n\n'
                f'[profiles.proxy]\nkind = "openai"\nbase_url = "{faults.base_url}"\nprices = "openai"\n')
    told = ('warning: no price is known for fake:ok-a; cost is unknown (looked in [prices.fake]; '
            'add [prices.fake."ok-a"] to the config)')
    assert told in _cli("tokenize", "-m", "fake:ok-a", "hi").stderr
    complete = _cli("complete", "-m", "fake:ok-a", "hi")
    assert complete.exit_code == 0 and told in complete.stderr
    proxied = _cli("tokenize", "-m", "proxy:my-own", "hi").stderr
    assert ('no price is known for proxy:my-own; cost is unknown (looked in [prices.proxy] and [prices.openai]; '
            'add [prices.proxy."my-own"] to the config)') in proxied
    estimate = _cli("complete", "-m", "fake:ok-a", "--estimate", "--max-tokens", "5", "hi")
    assert estimate.exit_code == 2
    assert estimate.stderr == ('llmctl: error: no price is known for fake:ok-a; cannot estimate its cost (looked in '
                               '[prices.fake]; add [prices.fake."ok-a"] to the config)\n')


def test_an_ad_hoc_base_url_says_how_to_price_it(faults: FaultServer) -> None:
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:gpt-4o", "hi")
    assert result.exit_code == 0
    assert ("cost is unknown (an ad hoc --base-url endpoint is unpriced; make it a profile and price it under "
            "[prices.PROFILE])") in result.stderr


def test_the_profile_error_lists_the_keys_it_takes(user_config) -> None:
    path = user_config('[profiles.fake]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nprice = "openai"\n')
    result = _cli("tokenize", "-m", "fake:x", "hi")
    assert result.exit_code == 3
    assert result.stderr == (f"llmctl: error: {path}: [profiles.fake] unknown key 'price'; the openai backend "
                             "takes: kind, base_url, timeout, max_retries, max_wait, retry_timeouts, concurrency, "
                             "key_env, tokenizer, prices\n")
