"""Both SDK paths against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2."""

from __future__ import annotations

import math

import pytest

from llmctl.providers.base import CompletionRequest, EmbeddingRequest
from llmctl.providers.registry import get_provider, get_tokenizer, resolve_model

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["openai", "mistral"])
def test_complete_with_and_without_streaming(llama_server: str, kind: str, user_config) -> None:
    # The profile names the served model's tokenizer: a stream without usage is counted with it.
    user_config(f'[profiles.local]\nkind = "{kind}"\nbase_url = "{llama_server}"\ntokenizer = "gguf:smollm2"\n')
    ref = resolve_model("local:smollm2")
    provider = get_provider(ref, {"max_retries": 0, "timeout": 60})
    provider.load(ref)
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
    # llama-cpp-python's own server reports no usage in streams: SmolLM2's tokenizer and chat
    # template count it here, and get the prompt the server counted for the whole answer.
    assert streamed.usage.estimated is True and streamed.usage.tokenizer == "gguf:smollm2"
    assert streamed.usage.input_tokens == whole.usage.input_tokens
    if streamed.finish_reason == "length":
        assert streamed.usage.output_tokens == 8  # the server wrote exactly max_tokens tokens
    provider.close()


def test_without_a_named_tokenizer_the_estimate_says_o200k(llama_server: str) -> None:
    ref = resolve_model("openai:smollm2", base_url=llama_server)
    provider = get_provider(ref, {"max_retries": 0, "timeout": 60})
    streamed = provider.complete(ref, CompletionRequest("Name a colour.", max_tokens=8, temperature=0, seed=1,
                                                        stream=True), lambda _: None)
    assert streamed.usage.estimated is True and streamed.usage.tokenizer == "tiktoken:o200k_base"
    provider.close()


def test_llmctl_serve_reports_usage_in_streams(llmctl_server: str) -> None:
    ref = resolve_model("openai:smollm2", base_url=llmctl_server)
    provider = get_provider(ref, {"max_retries": 0, "timeout": 60})
    request = CompletionRequest("Name a colour.", max_tokens=8, temperature=0, seed=1)
    whole = provider.complete(ref, request)
    request.stream = True
    streamed = provider.complete(ref, request, lambda _: None)
    # include_usage is honoured: the usage is the server's own, not an estimate.
    assert streamed.usage.estimated is False and streamed.usage.tokenizer is None
    assert streamed.usage.input_tokens == whole.usage.input_tokens
    assert streamed.usage.output_tokens == (8 if streamed.finish_reason == "length" else
                                            len(get_tokenizer(resolve_model("smollm2")).encode(streamed.text)))
    assert streamed.usage.input_tokens > 20  # the chat template's framing is counted, not just the words
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
