"""Both SDK paths against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2."""

from __future__ import annotations

import math

import pytest

from llmctl.providers.base import CompletionRequest, EmbeddingRequest
from llmctl.providers.registry import get_provider, resolve_model

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_complete_with_and_without_streaming(llama_server: str, kind: str) -> None:
    ref = resolve_model(f"{kind}:smollm2", base_url=llama_server)
    provider = get_provider(ref, {"max_retries": 0, "timeout": 60})
    provider.require(ref, "complete")
    request = CompletionRequest("Name a colour.", max_tokens=8, temperature=0, seed=1)
    whole = provider.complete(ref, request)
    assert whole.text.strip()
    assert whole.finish_reason in ("length", "stop")
    # The server reports usage for whole answers.
    assert whole.usage.estimated is False and whole.usage.output_tokens <= 8 and whole.usage.input_tokens > 0

    deltas: list[str] = []
    request.stream = True
    streamed = provider.complete(ref, request, deltas.append)
    assert "".join(deltas) == streamed.text
    assert len(deltas) > 1
    assert streamed.text.strip()
    # llama.cpp reports no usage in streams: counted locally and marked so.
    assert streamed.usage.estimated is True
    assert streamed.usage.output_tokens == provider.tokenizer(ref).count(streamed.text)
    provider.close()


def test_embed_through_both_sdks_gives_the_same_vectors(llama_server: str) -> None:
    texts = ["king", "queen", "frogs sing at night"]
    vectors = {}
    for kind in ("openai", "mistral"):
        ref = resolve_model(f"{kind}:smollm2", base_url=llama_server)
        provider = get_provider(ref, {"max_retries": 0, "timeout": 60})
        result = provider.embed(ref, EmbeddingRequest(texts, normalize=True))
        assert [len(v) for v in result.vectors] == [576, 576, 576]
        assert all(abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-9 for v in result.vectors)
        assert result.usage.input_tokens > 0
        vectors[kind] = result.vectors
        provider.close()
    for a, b in zip(vectors["openai"], vectors["mistral"], strict=True):
        assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-6
