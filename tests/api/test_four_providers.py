"""The command line against all four hosted providers at once, each answering from its recorded fixture:
a compare table with costs, `tokenize` through a count endpoint or estimated, `--estimate`, `models --provider`."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from support.api_wire import ANTHROPIC_KEY, FIXTURES, GEMINI_KEY, MISTRAL_KEY, OPENAI_KEY, fixture_json
from typer.testing import CliRunner

from llmctl.cli.app import app

pytestmark = pytest.mark.usefixtures("keys")

#: host -> (fixture answered to a generation, to a streamed one, the key header and value that host must get)
HOSTS = {
    "api.anthropic.com": ("anthropic_messages", ("x-api-key", ANTHROPIC_KEY)),
    "generativelanguage.googleapis.com": ("gemini_generate", ("x-goog-api-key", GEMINI_KEY)),
    "api.openai.com": ("openai_chat", ("authorization", f"Bearer {OPENAI_KEY}")),
    "api.mistral.ai": ("mistral_chat", ("authorization", f"Bearer {MISTRAL_KEY}")),
}
COUNTS = {"/v1/messages/count_tokens": "anthropic_count_tokens.json",
          "/v1beta/models/gemini-2.5-flash:countTokens": "gemini_count_tokens.json"}
KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


class Hosts:
    """One transport for every provider: each host answers from its own fixture; every request is kept."""

    def __init__(self) -> None:
        self.seen: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        self.seen.append(request)
        if request.url.path in COUNTS:
            return httpx2.Response(200, json=fixture_json(COUNTS[request.url.path]))
        name = HOSTS[request.url.host][0]
        if "streamGenerateContent" in request.url.path or json.loads(request.content).get("stream"):
            return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                                   content=(FIXTURES / f"{name}_stream.sse").read_bytes())
        return httpx2.Response(200, json=fixture_json(f"{name}.json"))

    def keys_sent(self) -> dict[str, set[tuple[str, str]]]:
        found: dict[str, set[tuple[str, str]]] = {}
        for request in self.seen:
            found.setdefault(request.url.host, set()).update(
                (name, value) for name, value in request.headers.items() if name in KEY_HEADERS)
        return found


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Hosts:
    """Every provider the CLI opens (the run layer's, and tokenize's) sends through `Hosts`."""
    from llmctl.providers import registry
    from llmctl.run import runner

    served = Hosts()
    transport = httpx2.MockTransport(served)

    def wrap(real: Callable[..., Any]) -> Callable[..., Any]:
        def with_transport(ref: Any, options: Any = None) -> Any:
            if ref.kind in ("gguf", "hf"):
                return real(ref, options)
            return real(ref, {**dict(options or {}), "transport": transport, "backoff_base": 0.001})
        return with_transport

    monkeypatch.setattr(runner, "get_provider", wrap(runner.get_provider))
    monkeypatch.setattr(registry, "get_provider", wrap(registry.get_provider))
    return served


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


FOUR = ["-m", "anthropic:claude-sonnet-4-5", "-m", "gemini:gemini-2.5-flash", "-m", "openai:gpt-5-mini",
        "-m", "mistral:mistral-medium-latest"]
PER_M = Decimal(1_000_000)
#: What each recorded stream's usage costs at the providers' published per-1M rates (configs/prices.toml's
#: source): Sonnet 4.5 $3 in / $15 out; Gemini 2.5 Flash $0.30 / $2.50 (thinking tokens are output); GPT-5 mini
#: $0.25 / $2; Mistral Medium 3 (2604) $1.50 / $7.50. A compare streams, to time the first token.
EXPECTED = {
    "anthropic:claude-sonnet-4-5": (14 * Decimal(3) + 6 * Decimal(15)) / PER_M,
    "gemini:gemini-2.5-flash": (9 * Decimal("0.30") + (5 + 30) * Decimal("2.50")) / PER_M,
    "openai:gpt-5-mini": (12 * Decimal("0.25") + 5 * Decimal(2)) / PER_M,
    "mistral:mistral-medium-latest": (14 * Decimal("1.50") + 6 * Decimal("7.50")) / PER_M,
}


def test_four_providers_compare_in_one_table_with_costs(hosts: Hosts) -> None:
    result = _cli("complete", *FOUR, "Explain BPE in two sentences")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0].split("\t")
    rows = {cells[0]: dict(zip(header, cells, strict=True)) for cells in (line.split("\t") for line in lines[1:])}
    assert list(rows) == list(EXPECTED)
    assert {model: Decimal(row["cost"].removeprefix("$")) for model, row in rows.items()} == EXPECTED
    assert rows["gemini:gemini-2.5-flash"]["answer"] == "Frogs sing at night."
    assert (rows["gemini:gemini-2.5-flash"]["tokens_in"], rows["gemini:gemini-2.5-flash"]["tokens_out"]) == ("9", "35")
    # Each host got its own key and no other.
    assert hosts.keys_sent() == {host: {key} for host, (_, key) in HOSTS.items()}


def test_four_providers_json_records(hosts: Hosts) -> None:
    result = _cli("complete", *FOUR, "--json", "Explain BPE in two sentences")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["model"]: Decimal(str(r["cost"]["total"])) for r in records} == EXPECTED
    assert all(r["usage"]["estimated"] is False for r in records)
    gemini = next(r for r in records if r["model"].startswith("gemini:"))
    assert (gemini["usage"]["input_tokens"], gemini["usage"]["output_tokens"]) == (9, 35)


def test_tokenize_uses_the_count_endpoint_with_a_key(hosts: Hosts) -> None:
    result = _cli("tokenize", "-m", "anthropic:claude-sonnet-4-5", "--json", "Frogs sing at night.")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["tokens"], record["tokenizer"], "estimated" in record) == (
        14, "anthropic:/v1/messages/count_tokens", False)
    assert [r.url.path for r in hosts.seen] == ["/v1/messages/count_tokens"]


def test_tokenize_without_a_key_is_estimated_and_says_so(hosts: Hosts, monkeypatch: pytest.MonkeyPatch,
                                                         real_tiktoken) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    text = "Frogs sing at night."
    result = _cli("tokenize", "-m", "gemini:gemini-2.5-flash", text)
    assert result.exit_code == 0, result.stderr
    tokens = len(real_tiktoken["o200k_base"].encode(text))
    assert result.stdout == f"{tokens}\n"
    assert f"{tokens} tokens (estimated with tiktoken:o200k_base)" in result.stderr
    record = json.loads(_cli("tokenize", "-m", "gemini:gemini-2.5-flash", "--json", text).stdout)
    assert (record["tokens"], record["estimated"]) == (tokens, True)
    assert hosts.seen == []


def test_estimate_counts_input_at_the_count_endpoint_and_reserves_the_max_output(hosts: Hosts) -> None:
    result = _cli("complete", "-m", "anthropic:claude-sonnet-4-5", "--estimate", "--json", "Frogs sing at night.")
    assert result.exit_code == 0, result.stderr
    estimate = json.loads(result.stdout)
    assert [r.url.path for r in hosts.seen] == ["/v1/messages/count_tokens"]
    assert (estimate["input_tokens"], estimate["max_output_tokens"]) == (14, 64000)
    assert Decimal(str(estimate["cost"]["max"])) == (14 * Decimal(3) + 64000 * Decimal(15)) / PER_M


def test_a_model_the_price_list_does_not_know_is_unpriced_said_once(hosts: Hosts) -> None:
    result = _cli("complete", "-m", "anthropic:claude-opus-9", "--json", "hi")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["cost"]["total"] is None and record["usage"]["input_tokens"] == 3169
    assert result.stderr.count("no price is known for anthropic:claude-opus-9") == 1


def test_models_lists_one_providers_windows_prices_and_capabilities() -> None:
    result = _cli("models", "--provider", "anthropic", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["model"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows and all(name.startswith("anthropic:") for name in rows)
    sonnet = rows["anthropic:claude-sonnet-4-5"]
    assert (sonnet["context_window"], sonnet["input_per_1m"], sonnet["output_per_1m"]) == (200000, "3.00", "15.00")
    assert sonnet["capabilities"] == ["complete", "tokenize"]
    unknown = _cli("models", "--provider", "antropic")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("llmctl: error: unknown provider 'antropic'; valid providers: anthropic, ")


def test_a_budget_reserves_the_counted_input_and_the_max_output(hosts: Hosts) -> None:
    # Worst case: 14 counted input tokens at $3/1M and 64,000 output tokens at $15/1M = $0.960042.
    refused = _cli("complete", "-m", "anthropic:claude-sonnet-4-5", "--max-cost", "0.96", "hi")
    assert refused.exit_code == 6, refused.stderr
    assert [r.url.path for r in hosts.seen] == ["/v1/messages/count_tokens"]
    hosts.seen.clear()
    allowed = _cli("complete", "-m", "anthropic:claude-sonnet-4-5", "--max-cost", "0.96", "--max-tokens", "100", "hi")
    assert allowed.exit_code == 0, allowed.stderr
    assert [r.url.path for r in hosts.seen] == ["/v1/messages/count_tokens", "/v1/messages"]
    assert json.loads(hosts.seen[1].content)["max_tokens"] == 100
