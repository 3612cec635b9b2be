"""`embed` through the hf provider: the real MiniLM against sentence-transformers, pooling on a tiny BERT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmctl.core.errors import UsageError
from llmctl.providers.base import EmbeddingRequest
from llmctl.providers.hf import HFProvider

from .conftest import hf_ref, minilm_folder

QUERY = "A man is eating food."
CLOSE = "Someone is having a meal."
FAR = "The stock market crashed today."
VARIED = [
    QUERY, CLOSE, FAR, "x", "Frogs sing at night \U0001f438 and the pond is loud until dawn.",
    "def add(a, b):\n    return a + b", "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002",
    "[SEP] <|endoftext|> [INST] look-alikes", "   spaced   out   ", "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    " ".join(["long"] * 300),  # longer than MiniLM's 256-token limit: cut, as sentence-transformers cuts it
]


def _minilm(provider: HFProvider, texts: list[str], **kw: Any) -> tuple[np.ndarray, Any]:
    result = provider.embed(hf_ref(minilm_folder(), "hf:minilm"), EmbeddingRequest(texts, **kw))
    return np.asarray(result.vectors), result


@pytest.mark.slow
def test_minilm_ranks_the_paraphrase_far_above_the_unrelated(minilm_provider: HFProvider) -> None:
    vectors, _ = _minilm(minilm_provider, [QUERY, CLOSE, FAR])
    close, far = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert close > 0.6
    assert far < 0.1
    assert close - far > 0.5


@pytest.mark.slow
def test_minilm_matches_sentence_transformers(minilm_provider: HFProvider, sentence_transformer: Any) -> None:
    vectors, result = _minilm(minilm_provider, VARIED)
    expected = sentence_transformer.encode(VARIED)
    assert vectors.shape == (len(VARIED), 384)
    assert np.abs(vectors - expected).max() < 1e-5
    # The Normalize module in modules.json is honoured: unit vectors without being asked.
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Usage counts the tokens the model read: special tokens included, after the cut at 256.
    assert result.usage.input_tokens == int(sentence_transformer.tokenize(VARIED)["attention_mask"].sum())
    assert result.usage.estimated is False
    assert minilm_provider.drain_warnings() == ["1 text(s) longer than 256 tokens were cut to fit hf:minilm"]


@pytest.mark.slow
def test_minilm_many_texts_in_parallel_batches_match(minilm_provider: HFProvider, sentence_transformer: Any) -> None:
    import random

    rng = random.Random(3)
    words = [w for s in VARIED[:10] for w in s.split()]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 40))) for _ in range(150)]
    vectors, result = _minilm(minilm_provider, texts)
    assert np.abs(vectors - sentence_transformer.encode(texts)).max() < 1e-5
    assert result.usage.input_tokens == int(sentence_transformer.tokenize(texts)["attention_mask"].sum())


@pytest.mark.slow
def test_minilm_order_and_batching_do_not_change_vectors(minilm_provider: HFProvider) -> None:
    alone = [_minilm(minilm_provider, [t])[0][0] for t in VARIED[:5]]
    together, _ = _minilm(minilm_provider, list(reversed(VARIED[:5])))
    assert np.abs(np.asarray(alone) - together[::-1]).max() < 1e-5
    minilm_provider.drain_warnings()


@pytest.mark.slow
def test_dimensions_other_than_the_models_are_refused(minilm_provider: HFProvider) -> None:
    with pytest.raises(UsageError) as caught:
        _minilm(minilm_provider, [QUERY], dimensions=128)
    assert caught.value.one_line() == "hf:minilm gives 384-dimensional vectors and cannot change that (--dimensions)"
    same, _ = _minilm(minilm_provider, [QUERY], dimensions=384)
    assert same.shape == (1, 384)


@pytest.mark.slow
def test_minilm_cannot_complete(minilm_provider: HFProvider) -> None:
    from llmctl.providers.base import CompletionRequest

    with pytest.raises(UsageError, match="^hf:minilm is an embedding model; use `llmctl embed`$"):
        minilm_provider.complete(hf_ref(minilm_folder(), "hf:minilm"), CompletionRequest("hi"))


def _reference(folder: Path, texts: list[str], mode: str) -> np.ndarray:
    """Token vectors from transformers itself, pooled by hand, one text at a time (no padding)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            hidden = model(**tok(text, return_tensors="pt")).last_hidden_state[0]
            rows.append({"mean": hidden.mean(0), "cls": hidden[0], "max": hidden.max(0).values}[mode].numpy())
    return np.asarray(rows)


TEXTS = ["short one", "a somewhat longer sentence about frogs and ponds", "mid length text here"]


def test_plain_encoder_defaults_to_mean_pooling_without_normalising(tiny_bert: Path) -> None:
    provider = HFProvider({})
    ref = hf_ref(tiny_bert)
    assert provider.capabilities(ref) == frozenset({"embed", "tokenize"})
    result = provider.embed(ref, EmbeddingRequest(TEXTS))
    vectors = np.asarray(result.vectors)
    assert np.abs(vectors - _reference(tiny_bert, TEXTS, "mean")).max() < 1e-5
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    normed = np.asarray(provider.embed(ref, EmbeddingRequest(TEXTS, normalize=True)).vectors)
    assert np.allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-6)
    assert np.abs(normed - vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).max() < 1e-6


@pytest.mark.parametrize("mode", ["cls", "max"])
def test_declared_pooling_is_used(tiny_bert: Path, copy_model: Any, mode: str) -> None:
    folder = copy_model(tiny_bert)
    (folder / "1_Pooling").mkdir()
    flags = {"pooling_mode_cls_token": mode == "cls", "pooling_mode_mean_tokens": False,
             "pooling_mode_max_tokens": mode == "max", "word_embedding_dimension": 32}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(flags))
    vectors = np.asarray(HFProvider({}).embed(hf_ref(folder), EmbeddingRequest(TEXTS)).vectors)
    assert np.abs(vectors - _reference(tiny_bert, TEXTS, mode)).max() < 1e-5


def test_two_pooling_modes_at_once_are_refused(tiny_bert: Path, copy_model: Any) -> None:
    folder = copy_model(tiny_bert)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True}))
    with pytest.raises(UsageError) as caught:
        HFProvider({}).embed(hf_ref(folder, "hf:two"), EmbeddingRequest(TEXTS))
    assert caught.value.one_line() == ("hf:two: pooling cls + mean (1_Pooling/config.json) is not one llmctl "
                                       "computes; it computes one of cls, mean, max, lasttoken, mean_sqrt_len_tokens")
