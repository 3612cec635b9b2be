"""The OpenAI tokenizers give exactly tiktoken's ids, on the short path and the long one.

The reference is `tiktoken.get_encoding` itself (offline, from the verified files; see the
real_tiktoken fixture): tiktoken's own patterns and loader, none of llmctl's.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.texts import VARIED_TEXTS

from llmctl.core.errors import InputError
from llmctl.providers.openai.tokens import SHORT_TEXT_CHARS, TiktokenTokenizer
from llmctl.providers.openai.vocab import BUNDLED, load_verified_ranks, tiktoken_encoding

VARIED = [*VARIED_TEXTS, ""]


@pytest.fixture(scope="module", params=["o200k_base", "cl100k_base"])
def pair(request: pytest.FixtureRequest, real_tiktoken) -> tuple[TiktokenTokenizer, object]:
    return TiktokenTokenizer(request.param), real_tiktoken[request.param]


def test_llmctls_loader_is_tiktoken_with_tiktokens_own_patterns(real_tiktoken) -> None:
    for name, reference in real_tiktoken.items():
        ours = tiktoken_encoding(name)
        assert ours._pat_str == reference._pat_str
        assert ours._mergeable_ranks == reference._mergeable_ranks
        assert BUNDLED[name].pattern == reference._pat_str


def test_bundled_vocabularies_match_tiktoken_pinned_hashes() -> None:
    for name, encoding in BUNDLED.items():
        ranks = load_verified_ranks(name)
        assert len(ranks) == encoding.n_vocab
        assert sorted(ranks.values()) == list(range(encoding.n_vocab))


@pytest.mark.parametrize("text", VARIED)
def test_short_path_equals_tiktoken(pair, text: str) -> None:
    tokenizer, encoding = pair
    assert tokenizer.encode(text) == encoding.encode_ordinary(text)
    assert tokenizer.count(text) == len(encoding.encode_ordinary(text))


def test_known_ids_for_gpt4_and_gpt4o() -> None:
    assert TiktokenTokenizer("cl100k_base").encode("We live in Paris but ewhd here") == [
        1687, 3974, 304, 12366, 719, 37990, 16373, 1618]
    assert TiktokenTokenizer("o200k_base").count("We live in Paris but ewhd here") == 9
    assert TiktokenTokenizer("o200k_base").count("We live in Paris but ewhd here\n") == 10


def test_long_text_goes_to_tiktoken_with_same_result(pair) -> None:
    tokenizer, encoding = pair
    text = " ".join(VARIED) * 20
    assert len(text) > SHORT_TEXT_CHARS
    assert tokenizer.encode(text) == encoding.encode_ordinary(text)
    assert tokenizer.count(text) == len(encoding.encode_ordinary(text))


@pytest.mark.heavy  # 150 random texts through both tokenizers (about 25 s)
@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200))
def test_random_text_equals_tiktoken(real_tiktoken, text: str) -> None:
    for name in ("o200k_base", "cl100k_base"):
        assert TiktokenTokenizer(name).encode(text) == real_tiktoken[name].encode_ordinary(text)


@pytest.mark.parametrize("text", ["\U0003d000:A", "x\U0003d000:A b", "\U000323b0 \U0003d000, \U000e0080z",
                                  "é\U0003d000:A"])
def test_code_points_the_unicode_tables_disagree_on_split_as_tiktoken_does(real_tiktoken, text: str) -> None:
    # The regex module calls U+3D000 a letter, tiktoken's engine does not: ":A" must stay two tokens.
    for name in ("o200k_base", "cl100k_base"):
        assert TiktokenTokenizer(name).encode(text) == real_tiktoken[name].encode_ordinary(text)
        assert TiktokenTokenizer(name).count(text) == len(real_tiktoken[name].encode_ordinary(text))


def test_special_token_look_alikes_count_as_plain_text(pair) -> None:
    tokenizer, encoding = pair
    text = "<|endoftext|>"
    assert tokenizer.encode(text) == encoding.encode_ordinary(text)
    assert len(tokenizer.encode(text)) > 1


def test_decode_round_trips_and_rejects_ids_outside_vocab(pair) -> None:
    tokenizer, _ = pair
    text = "héllo wörld, 日本 😀"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    with pytest.raises(InputError, match="not in the"):
        tokenizer.decode([10**7])
    with pytest.raises(InputError):
        tokenizer.decode([-1])
