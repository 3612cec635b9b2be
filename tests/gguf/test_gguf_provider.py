"""The gguf provider on the real SmolLM2 file, offline: tokens, a chat answer, usage, embeddings."""

from __future__ import annotations

import math

import pytest

from llmctl.core.errors import UsageError
from llmctl.providers.base import CompletionRequest, EmbeddingRequest, ModelRef
from llmctl.providers.gguf import GGUFProvider

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
SYSTEM = "You are a helpful assistant."


def _llama_tokens(provider: GGUFProvider, ref: ModelRef, text: str) -> list[int]:
    """llama-cpp-python's own tokenizer on the loaded model: no BOS, specials as text."""
    llm = provider.chat_model(ref)
    return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))


@pytest.mark.parametrize("text", [
    "Hello, world!",
    "  leading spaces and trailing\n\n",
    "naïve café — 東京 🐸 frogs at night",
    "def f(x):\n    return x ** 2  # squares",
    "<|im_start|>user\nhi<|im_end|>",
])
def test_tokenizer_counts_equal_llama_cpp(provider: GGUFProvider, smollm2: ModelRef, text: str) -> None:
    tok = provider.tokenizer(smollm2)
    assert tok.encode(text) == _llama_tokens(provider, smollm2, text)
    assert tok.count(text) == len(_llama_tokens(provider, smollm2, text))
    assert tok.decode(tok.encode(text)) == text


def test_special_token_look_alikes_count_as_text(provider: GGUFProvider, smollm2: ModelRef) -> None:
    tok = provider.tokenizer(smollm2)
    ids = tok.encode("<|im_start|>")
    assert len(ids) > 1
    assert 1 not in ids  # the real <|im_start|> id
    assert tok.decode([1]) == "<|im_start|>"
    assert tok.vocab_size == 49152
    assert b"".join(tok.token_bytes(i) for i in tok.encode("frogs at night")) == b"frogs at night"


def test_capabilities_from_metadata(provider: GGUFProvider, smollm2: ModelRef) -> None:
    assert provider.capabilities(smollm2) == frozenset({"complete", "embed", "tokenize"})


def test_paris_at_temperature_zero(provider: GGUFProvider, smollm2: ModelRef) -> None:
    request = CompletionRequest(QUESTION, system=SYSTEM, temperature=0.0, max_tokens=32)
    completion = provider.complete(smollm2, request)
    assert "Paris" in completion.text
    assert completion.finish_reason == "stop"
    assert completion.usage.estimated is False


def test_usage_is_exact_and_matches_llama_cpp(provider: GGUFProvider, smollm2: ModelRef) -> None:
    request = CompletionRequest(QUESTION, system=SYSTEM, temperature=0.0, max_tokens=32)
    ours = provider.complete(smollm2, request)
    llm = provider.chat_model(smollm2)
    theirs = llm.create_chat_completion(request.messages(), temperature=0.0, max_tokens=32)
    assert theirs["choices"][0]["message"]["content"] == ours.text
    assert ours.usage.input_tokens == theirs["usage"]["prompt_tokens"]
    assert ours.usage.output_tokens == theirs["usage"]["completion_tokens"]
    tokens, _ = provider.prompt_tokens(smollm2, request)
    assert ours.usage.input_tokens == len(tokens)


def test_max_tokens_stops_at_the_count(provider: GGUFProvider, smollm2: ModelRef) -> None:
    request = CompletionRequest("Tell me a long story about nights and frogs.", temperature=0.0, max_tokens=7)
    completion = provider.complete(smollm2, request)
    assert completion.usage.output_tokens == 7
    assert completion.finish_reason == "length"


def test_streaming_delivers_the_same_text(provider: GGUFProvider, smollm2: ModelRef) -> None:
    request = CompletionRequest("Name three colours.", system=SYSTEM, temperature=0.0, max_tokens=40)
    plain = provider.complete(smollm2, request)
    pieces: list[str] = []
    request.stream = True
    streamed = provider.complete(smollm2, request, pieces.append)
    assert len(pieces) > 3
    assert "".join(pieces) == plain.text == streamed.text
    assert streamed.usage == plain.usage


def test_stop_string_cuts_and_is_not_streamed(provider: GGUFProvider, smollm2: ModelRef) -> None:
    request = CompletionRequest(QUESTION, system=SYSTEM, temperature=0.0, max_tokens=32, stop=["Paris"],
                                stream=True)
    pieces: list[str] = []
    completion = provider.complete(smollm2, request, pieces.append)
    assert completion.text == "The capital of France is "
    assert "".join(pieces) == completion.text
    assert completion.finish_reason == "stop"


def test_same_seed_same_sample(provider: GGUFProvider, smollm2: ModelRef) -> None:
    request = CompletionRequest("Write a word.", temperature=1.2, max_tokens=12, seed=42)
    assert provider.complete(smollm2, request).text == provider.complete(smollm2, request).text


def test_prompt_longer_than_context(smollm2: ModelRef) -> None:
    small = GGUFProvider({"n_ctx": 64})
    prompt = "frogs " * 100
    try:
        with pytest.raises(UsageError) as err:
            small.complete(smollm2, CompletionRequest(prompt))
        rendered = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    f"<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
        llm = small.chat_model(smollm2)
        tokens = len(llm.tokenize(rendered.encode(), add_bos=False, special=True))
    finally:
        small.close()
    assert err.value.exit_code == 2
    assert tokens > 100
    assert err.value.message.startswith(f"the prompt is {tokens} tokens but the context window is 64 tokens")


def test_out_of_range_sampling_is_a_usage_error() -> None:
    # Checked once, when the request is made, whichever backend it is for.
    with pytest.raises(UsageError, match=r"--top-p must be in \(0, 1\], not 1.5"):
        CompletionRequest("hi", top_p=1.5)
    with pytest.raises(UsageError, match="--max-tokens must be at least 1"):
        CompletionRequest("hi", max_tokens=0)


def test_n_ctx_past_training_context_warns(smollm2: ModelRef) -> None:
    big = GGUFProvider({"n_ctx": 9000})
    try:
        big.tokenizer(smollm2)
        assert big.drain_warnings() == []
        big.require(smollm2, "complete")
        big.load(smollm2)
        assert big.drain_warnings() == [
            "--n-ctx 9000 is larger than gguf:smollm2's training context of 8192 tokens; quality may drop past it"
        ]
    finally:
        big.close()


def test_hf_only_options_are_refused() -> None:
    with pytest.raises(UsageError, match="--trust-remote-code does not apply to the gguf backend; it takes --n-ctx"):
        GGUFProvider({"trust_remote_code": True})


def test_embeddings_have_the_model_width(provider: GGUFProvider, smollm2: ModelRef) -> None:
    texts = ["A man is eating food.", "Someone is having a meal.", "The stock market crashed today."]
    raw = provider.embed(smollm2, EmbeddingRequest(texts))
    unit = provider.embed(smollm2, EmbeddingRequest(texts, normalize=True))
    assert [len(v) for v in raw.vectors] == [576, 576, 576]
    assert any(abs(math.hypot(*v) - 1) > 1e-3 for v in raw.vectors)
    for r, u in zip(raw.vectors, unit.vectors, strict=True):
        assert math.hypot(*u) == pytest.approx(1.0, abs=1e-9)
        norm = math.hypot(*r)
        assert u == pytest.approx([x / norm for x in r], abs=1e-9)
    tok = provider.tokenizer(smollm2)
    assert raw.usage.input_tokens == sum(tok.count(t) for t in texts)
    same = provider.embed(smollm2, EmbeddingRequest(texts[:1], normalize=True))
    assert same.vectors[0] == pytest.approx(unit.vectors[0], abs=1e-5)


def test_embedding_dimensions_refused(provider: GGUFProvider, smollm2: ModelRef) -> None:
    with pytest.raises(UsageError, match="--dimensions is not supported"):
        provider.embed(smollm2, EmbeddingRequest(["x"], dimensions=64))
