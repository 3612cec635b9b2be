"""The issue's examples against the embedded models and a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import math

import pytest
from support.scripted_run import run

pytestmark = pytest.mark.slow


def test_compare_the_embedded_model_with_a_served_one(fault_server, scripted_backend) -> None:
    scripted_backend(f'[profiles.loop]\nkind = "openai"\nbase_url = "{fault_server.base_url}"\n')
    fault_server.script("stream")
    result = run("complete", "--json", "-m", "loop:frog-model", "-m", "smollm2", "--temperature", "0",
                 "--max-tokens", "12", "What is the capital of France?")
    assert result.exit_code == 0, result.stderr
    records = {r["model"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == {"loop:frog-model", "gguf:smollm2"}, result.stdout
    assert records["loop:frog-model"]["text"] == "Frogs sing at night."
    assert "Paris" in records["gguf:smollm2"]["text"]
    for record in records.values():
        # Both backends streamed: time to first token and a rate, for the local model too.
        assert 0 < record["ttft_ms"] <= record["latency_ms"]
        assert record["usage"]["output_tokens"] > 0
    assert records["gguf:smollm2"]["cost"]["local"] is True


def test_similarity_with_minilm_and_a_served_embedding_model(fault_server, scripted_backend) -> None:
    scripted_backend(f'[profiles.loop]\nkind = "openai"\nbase_url = "{fault_server.base_url}"\n')
    fault_server.script("embed")
    result = run("embed", "--json", "--similarity", "-m", "minilm", "-m", "loop:vectors", "king", "queen", "apple")
    assert result.exit_code == 0, result.stderr
    matrices = {r["model"]: r["matrix"] for r in map(json.loads, result.stdout.splitlines())}
    minilm = matrices["hf:minilm"]
    assert minilm[0][1] > minilm[0][2]  # king is nearer queen than apple
    # The server answers [i, 1] for the i-th input of a request: one request carried all three, in order.
    assert matrices["loop:vectors"][0] == pytest.approx([1.0, 1 / math.sqrt(2), 1 / math.sqrt(5)])
