"""Times that mean what they say: the request's latency, the model's load, and the command's wall time."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from support.fault_server import FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app

SUMMARY = re.compile(r" · (?P<wall>[\d.]+) s \((?:load (?P<load>[\d.]+) s, )?request (?P<request>[\d.]+) s\)")


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def one_second(fault_server: FaultServer) -> Iterator[FaultServer]:
    fault_server.script("hang")
    before = fault_server.hang_seconds
    fault_server.hang_seconds = 1.0
    yield fault_server
    fault_server.hang_seconds = before


@pytest.mark.heavy  # a request that takes a real second
def test_an_api_call_reports_the_time_it_took(one_second: FaultServer) -> None:
    started = time.perf_counter()
    result = _cli("complete", "--base-url", one_second.base_url, "-m", "openai:local", "--timeout", "5", "hi")
    outside = time.perf_counter() - started
    assert result.exit_code == 0, result.stderr
    found = SUMMARY.search(result.stderr)
    assert found, result.stderr
    wall, request = float(found["wall"]), float(found["request"])
    assert found["load"] is None  # nothing was loaded for an API
    assert request >= 1.0  # the server held the answer for a second
    assert request <= wall <= outside + 0.01  # the command's wall time comes first and holds the request


@pytest.mark.heavy  # a request that takes a real second
def test_the_record_carries_the_request_latency(one_second: FaultServer) -> None:
    result = _cli("complete", "--base-url", one_second.base_url, "-m", "openai:local", "--timeout", "5",
                  "--json", "hi")
    record = json.loads(result.stdout)
    assert record["latency_ms"] >= 1000 and "load_ms" not in record


@pytest.mark.slow
def test_a_local_embed_shows_its_load_and_the_whole_wall_time() -> None:
    started = time.perf_counter()
    result = _cli("embed", "-m", "minilm", "A man is eating food.")
    outside = time.perf_counter() - started
    assert result.exit_code == 0, result.stderr
    found = SUMMARY.search(result.stderr)
    assert found and found["load"] is not None, result.stderr
    wall, load, request = float(found["wall"]), float(found["load"]), float(found["request"])
    # Loading MiniLM is most of the time; the first figure is the whole command, load included.
    assert load > request
    assert wall >= load + request - 0.011 and wall <= outside + 0.01

    from llmctl.providers import registry

    for provider in registry._PROVIDER_CACHE.values():
        provider.close()
    registry._PROVIDER_CACHE.clear()  # a fresh command loads the model again
    record = json.loads(_cli("embed", "-m", "minilm", "--json", "--no-cache", "A man is eating food.").stdout)
    assert record["load_ms"] > 0 and record["latency_ms"] > 0
