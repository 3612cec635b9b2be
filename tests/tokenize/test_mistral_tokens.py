"""Mistral tokenizers equal mistral-common's own on varied text, whole and piece by piece."""

from __future__ import annotations

import io

import pytest
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer as Reference

from llmctl.core.errors import InputError
from llmctl.providers.mistral.tokens import TOKENIZER_FILES, tokenizer_for_version
from llmctl.providers.registry import resolve_model

REFERENCES = {
    "v1": Reference.v1,
    "v2": Reference.v2,
    "v3": Reference.v3,
    "v7": Reference.v7,
    "tekken": lambda: Reference.v3(is_tekken=True),
}
TEXTS = [
    "We live in Paris but ewhd here",
    "[INST] hi [/INST] <s></s> [TOOL_CALLS] <|endoftext|>",
    "def f(x):\n    return x  # ok\n\n\n\t\tdone",
    "日本語のテキスト、中文、한국어 😀👍🏽🇫🇷",
    "     many      spaces     \n\n\n   ",
    "Ünïcödé àccents Ελληνικά кириллица",
]


@pytest.fixture(scope="module", params=sorted(TOKENIZER_FILES))
def pair(request: pytest.FixtureRequest):
    return tokenizer_for_version(request.param), REFERENCES[request.param]().instruct_tokenizer.tokenizer


@pytest.mark.parametrize("text", TEXTS)
def test_equal_to_mistral_common(pair, text: str) -> None:
    ours, reference = pair
    assert ours.encode(text) == reference.encode(text, bos=False, eos=False)


def test_count_stream_equals_whole_text(pair) -> None:
    ours, reference = pair
    text = "\n".join(TEXTS * 400)
    expected = len(reference.encode(text, bos=False, eos=False))
    assert ours.count_stream(io.BytesIO(text.encode()), "doc") == expected


def test_tekken_pieces_cross_many_cuts(monkeypatch) -> None:
    import llmctl.tokencount.tiktoken_pieces as tiktoken_pieces

    monkeypatch.setattr(tiktoken_pieces, "STREAM_PIECE_BYTES", 2048)
    tok = tokenizer_for_version("tekken")
    text = "\n".join(TEXTS * 300)
    reference = REFERENCES["tekken"]().instruct_tokenizer.tokenizer
    assert tok.count_stream(io.BytesIO(text.encode()), "doc") == len(reference.encode(text, bos=False, eos=False))


def test_decode_and_bad_ids(pair) -> None:
    ours, _ = pair
    text = "We live in Paris"
    assert ours.decode(ours.encode(text)).strip() == text
    with pytest.raises(InputError, match="is not in the Mistral"):
        ours.decode([ours.vocab_size])


@pytest.mark.parametrize(
    ("model", "version"),
    [("mistral:mistral-large-2411", "v7"), ("mistral:mistral-large-latest", "tekken"),
     ("mistral:mistral-small-latest", "tekken"),
     ("mistral:open-mistral-nemo", "tekken"), ("mistral:codestral-latest", "tekken"),
     ("mistral:mistral-embed", "v1"), ("mistral:mistral-large-2407", "v3")],
)
def test_model_to_tokenizer_map(model: str, version: str) -> None:
    assert resolve_model(model).spec["tokenizer"] == version
