"""Prices that are true: shipped entries, `prices update` from a loopback copy of LiteLLM's list, layering."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.api_wire import FIXTURES
from support.fault_server import FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.config import get_config
from llmctl.core.price_list import fetched_path
from llmctl.core.pricing import PriceTable
from llmctl.core.usage import Usage

RECORDED = (FIXTURES / "litellm_prices.json").read_bytes()
LITELLM_PATH = "/BerriAI/litellm/main/model_prices_and_context_window.json"


class ListServer:
    """Serves whatever bytes a test puts under a path, like raw.githubusercontent.com would."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.hits: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                owner.hits.append(self.path)
                body = owner.bodies.get(self.path)
                self.send_response(200 if body is not None else 404)
                data = body if body is not None else b"404: Not Found"
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # Polled every 10 ms: shutdown() waits for the next poll (0.5 s by default, at every teardown).
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def url(self, path: str = LITELLM_PATH) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def lists() -> Iterator[ListServer]:
    server = ListServer()
    server.bodies[LITELLM_PATH] = RECORDED
    yield server
    server.close()


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _table() -> PriceTable:
    get_config.cache_clear()
    return PriceTable(get_config())


def _edited(change: dict[str, dict[str, Any] | None]) -> bytes:
    data = json.loads(RECORDED)
    for key, fields in change.items():
        if fields is None:
            data.pop(key)
        else:
            data.setdefault(key, {}).update(fields)
    return json.dumps(data).encode()


# ------------------------------------------------------------------ shipped prices
@pytest.mark.parametrize(("model", "rates"), [
    ("gpt-5", ("1.25", "0.125", "10")), ("gpt-5-mini", ("0.25", "0.025", "2")),
    ("gpt-5-nano", ("0.05", "0.005", "0.4")),
    ("gpt-5.4", ("2.5", "0.25", "15")), ("gpt-5.5", ("5", "0.5", "30")), ("o3", ("2", "0.5", "8")),
    ("o4-mini", ("1.1", "0.275", "4.4")),
])
def test_the_gpt5_family_and_the_o_series_are_priced(model: str, rates: tuple[str, str, str]) -> None:
    price = _table().lookup("openai", model)
    assert price is not None
    assert (price.input, price.cached_input, price.output) == tuple(Decimal(r) for r in rates)
    assert price.as_of >= "2026-01-01" and price.source.startswith("litellm ")


@pytest.mark.parametrize(("model", "rates"), [
    ("mistral-medium-latest", ("1.5", "7.5")), ("mistral-small-latest", ("0.15", "0.6")),
    ("magistral-medium-latest", ("1.5", "7.5")), ("devstral-latest", ("0.4", "2")), ("codestral-2508", ("0.3", "0.9")),
    ("ministral-8b-latest", ("0.15", "0.15")), ("mistral-embed", ("0.1", None)),
])
def test_current_mistral_models_are_priced(model: str, rates: tuple[str, str | None]) -> None:
    price = _table().lookup("mistral", model)
    assert price is not None
    assert (price.input, price.output) == tuple(Decimal(r) if r else None for r in rates)


def test_tokenize_prices_gpt5_mini() -> None:
    result = _cli("tokenize", "-m", "openai:gpt-5-mini", "--json", "We live in Paris")
    record = json.loads(result.stdout)
    assert record["cost"]["input"] == pytest.approx(record["tokens"] * 0.25 / 1e6)
    assert "price unknown" not in result.stderr and "no price is known" not in result.stderr


def test_a_long_prompt_is_billed_at_the_long_context_rates() -> None:
    table = _table()
    short = table.cost_of("openai", "gpt-5.5", Usage(272_000, 1_000))
    long = table.cost_of("openai", "gpt-5.5", Usage(272_001, 1_000))
    assert short.input == Decimal(272_000) * 5 / 1_000_000 and short.output == Decimal("0.03")
    assert long.input == Decimal(272_001) * 10 / 1_000_000 and long.output == Decimal("0.045")
    assert table.cost_of("openai", "gpt-5.5", Usage(300_000, 10), batch=True).total is None


def test_a_user_entry_replaces_the_whole_shipped_entry(user_config) -> None:
    user_config('[prices.openai."gpt-4o-2024-08-06"]\ninput = "3.00"\noutput = "12.00"\nas_of = "2026-11-01"\n'
                'source = "my invoice"\n')
    price = _table().lookup("openai", "gpt-4o")
    assert price is not None
    assert (price.input, price.cached_input, price.batch_input, price.batch_output) == (Decimal("3"), None, None, None)
    cost = _table().cost_of("openai", "gpt-4o", Usage(1_000_000, 0, cached_input_tokens=500_000))
    assert cost.input == Decimal("3")  # no shipped cached rate survives under the user's date


# ------------------------------------------------------------------ custom endpoints
def test_a_base_url_host_is_not_priced_as_openai(faults: FaultServer) -> None:
    faults.script("chat")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "openai:gpt-4o", "--json", "hi")
    assert result.exit_code == 0, result.stderr
    cost = json.loads(result.stdout)["cost"]
    assert (cost["input"], cost["output"], cost["total"]) == (None, None, None)


def test_a_profile_priced_as_openai_is_priced(faults: FaultServer, user_config) -> None:
    user_config(f'[profiles.proxy]\nkind = "openai"\nbase_url = "{faults.base_url}"\nprices = "openai"\n')
    faults.script("chat")
    result = _cli("complete", "-m", "proxy:gpt-4o", "--json", "hi")
    assert result.exit_code == 0, result.stderr
    cost = json.loads(result.stdout)["cost"]
    # The fault server reports 11 prompt and 6 completion tokens; gpt-4o is $2.50 / $10 per 1M.
    assert cost["input"] == pytest.approx(11 * 2.5 / 1e6) and cost["output"] == pytest.approx(6 * 10 / 1e6)


def test_a_profile_without_prices_is_unpriced_in_tokenize(user_config) -> None:
    user_config('[profiles.vllm]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n')
    result = _cli("tokenize", "-m", "vllm:gpt-4o", "--json", "hi")
    assert json.loads(result.stdout)["cost"]["input"] is None


# ------------------------------------------------------------------ prices update
def test_update_stores_the_list_with_its_provenance(lists: ListServer) -> None:
    result = _cli("prices", "update", "--from", lists.url())
    assert result.exit_code == 0, result.stderr
    stored = json.loads(fetched_path().read_text())
    assert stored["source"] == lists.url()
    assert dt.datetime.fromisoformat(stored["fetched_at"]).date() == dt.date.today()
    assert len(stored["sha256"]) == 64
    assert sorted(stored["entries"]) == ["mistral", "openai"]
    # Images, realtime, Bedrock and the spec are not per-token prices of these APIs.
    assert sorted(stored["entries"]["openai"]) == ["gpt-3.5-turbo-instruct", "gpt-4o-mini-2024-07-18",
                                                   "gpt-5-2025-08-07", "gpt-5-pro", "gpt-5.5-2026-04-23",
                                                   "o3-2025-04-16", "text-embedding-3-small"]
    assert stored["entries"]["openai"]["gpt-5.5-2026-04-23"] == {
        "input": "5", "cached_input": "0.5", "output": "30", "batch_input": "2.5", "batch_output": "15",
        "input_long": "10", "cached_input_long": "1", "output_long": "45", "long_context_above": 272000,
        "as_of": dt.date.today().isoformat(), "source": lists.url()}
    assert stored["entries"]["mistral"]["mistral-embed"]["input"] == "0.1"
    assert f"saved to {fetched_path()}" in result.stderr
    price = _table().lookup("openai", "gpt-5")
    assert price is not None and price.source == lists.url() and price.as_of == dt.date.today().isoformat()


def test_update_prints_what_changed(lists: ListServer) -> None:
    assert _cli("prices", "update", "--from", lists.url()).exit_code == 0
    lists.bodies[LITELLM_PATH] = _edited({"gpt-5-2025-08-07": {"input_cost_per_token": 1.1e-06},
                                          "gpt-5-pro": None,
                                          "o3-pro": {"input_cost_per_token": 2e-05, "output_cost_per_token": 8e-05,
                                                     "litellm_provider": "openai", "mode": "responses"}})
    result = _cli("prices", "update", "--from", lists.url())
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "openai:gpt-5-2025-08-07\tchanged\tinput 1.25 -> 1.1",
        "openai:gpt-5-pro\tremoved\tinput 15 -> -, output 120 -> -, batch_input 7.5 -> -, batch_output 60 -> -",
        "openai:o3-pro\tadded\tinput - -> 20, output - -> 80",
    ]
    again = _cli("prices", "update", "--from", lists.url(), "--json")
    assert again.exit_code == 0 and again.stdout == ""  # the same list again: nothing changed


def test_update_never_touches_the_users_own_entries(lists: ListServer, user_config) -> None:
    path = user_config('[prices.openai."gpt-5-2025-08-07"]\ninput = "1.00"\noutput = "8.00"\nas_of = "2026-11-01"\n'
                       'source = "negotiated"\n')
    before = path.read_bytes()
    lists.bodies[LITELLM_PATH] = _edited({"gpt-5-2025-08-07": {"input_cost_per_token": 1.1e-06}})
    result = _cli("prices", "update", "--from", lists.url())
    assert result.exit_code == 0, result.stderr
    # The recorded list gives no batch rates for gpt-5; the shipped table has them.
    assert ("openai:gpt-5-2025-08-07\tchanged\tinput 1.25 -> 1.1, batch_input 0.625 -> -, batch_output 5 -> - "
            "(your own entry is kept)") in result.stdout.splitlines()
    assert path.read_bytes() == before
    price = _table().lookup("openai", "gpt-5")
    assert price is not None and (price.input, price.source) == (Decimal("1.00"), "negotiated")


def test_update_offline_is_exit_4_and_changes_nothing(lists: ListServer) -> None:
    assert _cli("prices", "update", "--from", lists.url()).exit_code == 0
    before = fetched_path().read_bytes()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _cli("prices", "update", "--from", f"http://127.0.0.1:{port}/prices.json")
    assert result.exit_code == 4
    assert result.stderr == (f"llmctl: error: cannot fetch http://127.0.0.1:{port}/prices.json (ConnectError); "
                             "the prices are unchanged (check the network, or pass --from FILE)\n")
    assert result.stdout == ""
    assert fetched_path().read_bytes() == before


def test_update_from_a_missing_url_is_exit_4(lists: ListServer) -> None:
    result = _cli("prices", "update", "--from", lists.url("/nothing.json"))
    assert result.exit_code == 4
    assert "(HTTP 404); the prices are unchanged" in result.stderr
    assert not fetched_path().exists()


def test_a_list_that_is_not_json_keeps_the_old_prices(lists: ListServer, tmp_path: Path) -> None:
    assert _cli("prices", "update", "--from", lists.url()).exit_code == 0
    before = fetched_path().read_bytes()
    lists.bodies[LITELLM_PATH] = b"<html>rate limited</html>"
    result = _cli("prices", "update", "--from", lists.url())
    assert result.exit_code == 4
    assert result.stderr.startswith(f"llmctl: error: price list {lists.url()} is not JSON (")
    assert result.stderr.endswith("; the old prices are kept\n")
    bad_file = tmp_path / "prices.json"
    bad_file.write_text("{not json")
    result = _cli("prices", "update", "--from", str(bad_file))
    assert result.exit_code == 2
    assert fetched_path().read_bytes() == before


@pytest.mark.parametrize(("edit", "message"), [
    ({"gpt-5-2025-08-07": {"input_cost_per_token": None}},
     "price list entry 'gpt-5-2025-08-07': input_cost_per_token must be a non-negative number, not None"),
    ({"o3-2025-04-16": {"output_cost_per_token": "8e-06"}},
     "price list entry 'o3-2025-04-16': output_cost_per_token must be a non-negative number, not '8e-06'"),
    ({"mistral/mistral-medium-2604": {"litellm_provider": "mistral", "mode": "chat", "input_cost_per_token": -1}},
     "price list entry 'mistral/mistral-medium-2604': input_cost_per_token must be a non-negative number, not -1"),
])
def test_a_bad_entry_is_named_and_the_old_prices_kept(lists: ListServer, edit: dict[str, Any], message: str) -> None:
    assert _cli("prices", "update", "--from", lists.url()).exit_code == 0
    before = fetched_path().read_bytes()
    lists.bodies[LITELLM_PATH] = _edited(edit)
    result = _cli("prices", "update", "--from", lists.url())
    assert result.exit_code == 4
    assert result.stderr == f"llmctl: error: {message}; the old prices are kept\n"
    assert fetched_path().read_bytes() == before


def test_an_entry_missing_its_rates_is_named(lists: ListServer) -> None:
    data = json.loads(RECORDED)
    del data["o3-2025-04-16"]["output_cost_per_token"]
    lists.bodies[LITELLM_PATH] = json.dumps(data).encode()
    result = _cli("prices", "update", "--from", lists.url())
    assert result.exit_code == 4
    assert result.stderr == ("llmctl: error: price list entry 'o3-2025-04-16' has no output_cost_per_token; "
                             "the old prices are kept\n")
    assert not fetched_path().exists()
