"""`complete` through the hf provider on tiny random models built by the tests (decoder-only and seq2seq)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.core.errors import UsageError
from llmctl.providers.base import CompletionRequest
from llmctl.providers.hf import HFProvider

from .conftest import hf_ref

PROMPT = "Hannah is a"


def _complete(folder: Path, **settings: object) -> tuple[HFProvider, object]:
    provider = HFProvider({})
    request = CompletionRequest(PROMPT, **settings)  # type: ignore[arg-type]
    return provider, provider.complete(hf_ref(folder), request)


def test_greedy_is_deterministic_and_counts_exact_usage(tiny_gpt2: Path) -> None:
    from transformers import AutoTokenizer

    _, first = _complete(tiny_gpt2, temperature=0, max_tokens=12)
    _, second = _complete(tiny_gpt2, temperature=0, max_tokens=12)
    assert first.text == second.text  # type: ignore[attr-defined]
    assert first.text  # type: ignore[attr-defined]
    prompt_ids = AutoTokenizer.from_pretrained(str(tiny_gpt2))(PROMPT)["input_ids"]
    usage = first.usage  # type: ignore[attr-defined]
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (len(prompt_ids), 12, False)
    assert first.finish_reason == "length"  # type: ignore[attr-defined]


def test_max_tokens_is_respected(tiny_gpt2: Path) -> None:
    _, short = _complete(tiny_gpt2, temperature=0, max_tokens=3)
    _, longer = _complete(tiny_gpt2, temperature=0, max_tokens=9)
    assert short.usage.output_tokens == 3  # type: ignore[attr-defined]
    assert longer.usage.output_tokens == 9  # type: ignore[attr-defined]
    assert longer.text.startswith(short.text)  # type: ignore[attr-defined]


def test_stop_string_cuts_the_text(tiny_gpt2: Path) -> None:
    _, free = _complete(tiny_gpt2, temperature=0, max_tokens=20)
    text = free.text  # type: ignore[attr-defined]
    stop = text[4:7]
    assert len(stop) == 3
    _, stopped = _complete(tiny_gpt2, temperature=0, max_tokens=20, stop=[stop])
    assert stopped.text == text[: text.find(stop)]  # type: ignore[attr-defined]
    assert stopped.finish_reason == "stop"  # type: ignore[attr-defined]
    assert stopped.usage.output_tokens < 20  # type: ignore[attr-defined]


def test_streaming_gives_the_same_text_in_pieces(tiny_gpt2: Path) -> None:
    _, plain = _complete(tiny_gpt2, temperature=0, max_tokens=15)
    pieces: list[str] = []
    provider = HFProvider({})
    streamed = provider.complete(hf_ref(tiny_gpt2), CompletionRequest(PROMPT, temperature=0, max_tokens=15,
                                                                       stream=True), pieces.append)
    assert "".join(pieces) == streamed.text == plain.text  # type: ignore[attr-defined]
    assert len(pieces) > 1
    assert streamed.usage == plain.usage  # type: ignore[attr-defined]


def test_streaming_with_a_stop_string_never_shows_the_stop(tiny_gpt2: Path) -> None:
    _, free = _complete(tiny_gpt2, temperature=0, max_tokens=20)
    stop = free.text[6:9]  # type: ignore[attr-defined]
    pieces: list[str] = []
    result = HFProvider({}).complete(hf_ref(tiny_gpt2), CompletionRequest(
        PROMPT, temperature=0, max_tokens=20, stop=[stop], stream=True), pieces.append)
    assert "".join(pieces) == result.text
    assert stop not in "".join(pieces)


def test_seeded_sampling_repeats_and_differs_from_greedy(tiny_gpt2: Path) -> None:
    runs = [_complete(tiny_gpt2, temperature=1.5, top_k=50, top_p=0.95, seed=seed, max_tokens=16)[1]
            for seed in (7, 7, 8)]
    texts = [r.text for r in runs]  # type: ignore[attr-defined]
    assert texts[0] == texts[1]
    assert texts[0] != texts[2]


def test_repeat_penalty_changes_greedy_output(tiny_gpt2: Path) -> None:
    _, plain = _complete(tiny_gpt2, temperature=0, max_tokens=30)
    _, penalised = _complete(tiny_gpt2, temperature=0, max_tokens=30, repeat_penalty=5.0)
    assert plain.text != penalised.text  # type: ignore[attr-defined]


def test_chat_template_is_applied(tiny_llama_chat: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_llama_chat))
    request = CompletionRequest("Tell me a story", system="Be brief.", temperature=0, max_tokens=4)
    result = HFProvider({}).complete(hf_ref(tiny_llama_chat), request)
    templated = "<|system|>Be brief.<|end|>\n<|user|>Tell me a story<|end|>\n<|assistant|>"
    assert result.usage.input_tokens == len(tok(templated, add_special_tokens=False)["input_ids"])
    assert result.usage.output_tokens == 4


def test_raw_prompt_with_a_system_prompt_warns(tiny_gpt2: Path) -> None:
    provider = HFProvider({})
    provider.complete(hf_ref(tiny_gpt2), CompletionRequest(PROMPT, system="Be brief.", temperature=0, max_tokens=2))
    assert provider.drain_warnings() == [
        "the model has no chat template; the system prompt and history are joined to the prompt as text"]


def test_encoder_decoder_generates(tiny_bart: Path) -> None:
    provider = HFProvider({})
    ref = hf_ref(tiny_bart)
    assert provider.capabilities(ref) == frozenset({"complete", "tokenize"})
    first = provider.complete(ref, CompletionRequest("Translate: frogs at night", temperature=0, max_tokens=6))
    second = provider.complete(ref, CompletionRequest("Translate: frogs at night", temperature=0, max_tokens=6))
    assert first.text == second.text
    assert first.usage.output_tokens == 6
    assert first.finish_reason == "length"


def _prompt_tokens(folder: Path, text: str) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(str(folder))(text)["input_ids"])


def test_prompt_longer_than_the_model_is_a_usage_error(tiny_gpt2: Path) -> None:
    prompt = "frogs sing " * 40
    n = _prompt_tokens(tiny_gpt2, prompt)
    assert n > 64
    with pytest.raises(UsageError) as caught:
        HFProvider({}).complete(hf_ref(tiny_gpt2, "hf:tiny"), CompletionRequest(prompt, max_tokens=4))
    assert caught.value.exit_code == 2
    assert caught.value.one_line() == f"hf:tiny: the prompt is {n} tokens, more than the 64 the model takes"


def test_max_tokens_past_the_window_is_cut_with_a_warning(tiny_gpt2: Path) -> None:
    words = 1
    while _prompt_tokens(tiny_gpt2, "frogs sing " * (words + 1)) < 60:
        words += 1
    prompt = "frogs sing " * words
    n = _prompt_tokens(tiny_gpt2, prompt)
    assert 44 < n < 60
    provider = HFProvider({})
    result = provider.complete(hf_ref(tiny_gpt2), CompletionRequest(prompt, temperature=0, max_tokens=20))
    assert (result.usage.input_tokens, result.usage.output_tokens) == (n, 64 - n)
    assert provider.drain_warnings() == [
        f"--max-tokens 20 cut to {64 - n}: the prompt takes {n} of the model's 64 tokens"]


def test_embedding_a_generation_model_is_refused(tiny_gpt2: Path) -> None:
    from llmctl.providers.base import EmbeddingRequest

    with pytest.raises(UsageError, match="is a generation model, not an embedding model"):
        HFProvider({}).embed(hf_ref(tiny_gpt2), EmbeddingRequest(["x"]))
