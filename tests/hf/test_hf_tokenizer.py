"""The hf tokenizer: counts equal to the HF tokenizer's, look-alikes read as text, exact counts of big files."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest

from llmctl.core.errors import InputError
from llmctl.providers.hf import HFProvider
from llmctl.providers.hf import tokenizer as hf_tokenizer

from .conftest import hf_ref, minilm_folder

SAMPLES = [
    "We live in Paris but ewhd here",
    "def f(x):\n\treturn x ** 2  # square\n",
    "emoji \U0001f600\U0001f438 and CJK \u6771\u4eac\u90fd, caf\u00e9 na\u00efve",
    "long     whitespace\n\n\n   runs\t\t\there",
    "look-alikes: <|endoftext|> [INST] [CLS] [SEP] </s> <s>",
    "",
]


def _reference(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), split_special_tokens=True)


@pytest.mark.parametrize("which", ["minilm", "gpt2"])
def test_counts_and_ids_equal_the_hf_tokenizer(which: str, tiny_gpt2: Path) -> None:
    folder = minilm_folder() if which == "minilm" else tiny_gpt2
    ours = HFProvider({}).tokenizer(hf_ref(folder))
    reference = _reference(folder)
    for text in SAMPLES:
        expected = reference(text, add_special_tokens=False)["input_ids"]
        assert ours.encode(text) == expected, text
        assert ours.count(text) == len(expected)


def test_look_alikes_are_plain_text(tiny_gpt2: Path) -> None:
    tok = HFProvider({}).tokenizer(hf_ref(tiny_gpt2))
    eos_id = 0  # the first special token of the tiny vocabulary
    assert tok.token_bytes(eos_id) == b"<|endoftext|>"
    ids = tok.encode("<|endoftext|>")
    assert eos_id not in ids
    assert len(ids) > 1
    assert tok.decode(ids) == "<|endoftext|>"


def test_token_bytes_are_readable(tiny_gpt2: Path) -> None:
    gpt2 = HFProvider({}).tokenizer(hf_ref(tiny_gpt2))
    text = "Frogs sing, caf\u00e9 \U0001f600"
    assert b"".join(gpt2.token_bytes(i) for i in gpt2.encode(text)) == text.encode("utf-8")
    bert = HFProvider({}).tokenizer(hf_ref(minilm_folder()))
    assert [bert.token_bytes(i) for i in bert.encode("unbelievable playing")] == [b"unbelievable", b"playing"]
    assert [bert.token_bytes(i) for i in bert.encode("ewhd")] == [b"e", b"w", b"hd"]  # e ##w ##hd
    assert bert.vocab_size == 30522


def test_decode_round_trips_and_rejects_ids_outside_the_vocabulary(tiny_gpt2: Path) -> None:
    tok = HFProvider({}).tokenizer(hf_ref(tiny_gpt2, "hf:tiny"))
    text = "The quick brown fox\njumps."
    assert tok.decode(tok.encode(text)) == text
    with pytest.raises(InputError) as caught:
        tok.decode([1, tok.vocab_size])
    assert caught.value.one_line() == f"token id {tok.vocab_size} is outside the vocabulary of hf:tiny " \
                                      f"(0..{tok.vocab_size - 1})"


def _varied_text(seed: int, lines: int) -> str:
    rng = random.Random(seed)
    words = ["frog", "Night", "caf\u00e9", "\u6771\u4eac", "\U0001f600", "<|endoftext|>", "[SEP]", "x=1;",
             "  ", "\t", "Zeta", "don't", "12345", "...", "\u00e9t\u00e9"]
    return "".join(" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) +
                   rng.choice(["\n", "\n\n", " \n", "\r\n", "\n  "]) for _ in range(lines))


@pytest.mark.parametrize("which", ["minilm", "gpt2"])
def test_count_stream_is_exact_when_cut_into_many_pieces(which: str, tiny_gpt2: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = minilm_folder() if which == "minilm" else tiny_gpt2
    tok = HFProvider({}).tokenizer(hf_ref(folder))
    assert tok.cuts_exactly  # type: ignore[attr-defined]
    text = _varied_text(5, 3000)
    # Tiny reads and pieces: many cuts, and multi-byte characters split across reads.
    monkeypatch.setattr(hf_tokenizer, "_READ_BLOCK", 997)
    monkeypatch.setattr(hf_tokenizer, "_PIECE", 300)
    counted = tok.count_stream(io.BytesIO(text.encode("utf-8")), "big.txt")
    assert counted == tok.count(text)
    assert counted == len(_reference(folder)(text, add_special_tokens=False)["input_ids"])


def test_count_stream_reports_the_offset_of_bad_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    tok = HFProvider({}).tokenizer(hf_ref(minilm_folder()))
    monkeypatch.setattr(hf_tokenizer, "_READ_BLOCK", 64)
    data = ("hello world\n" * 20).encode() + b"\xff tail\n"
    with pytest.raises(InputError) as caught:
        tok.count_stream(io.BytesIO(data), "bad.txt")
    assert caught.value.one_line() == "bad.txt: not valid UTF-8 at byte offset 240"


def test_a_tokenizer_that_cannot_be_cut_still_counts_exactly(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    # Metaspace adds a word-start marker at the beginning of every piece: cutting would miscount.
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator([_varied_text(1, 200)], trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>"],
                                                                        show_progress=False))
    tok.save(str(tmp_path / "tokenizer.json"))
    ours = HFProvider({}).tokenizer(hf_ref(tmp_path))
    assert not ours.cuts_exactly  # type: ignore[attr-defined]
    text = _varied_text(2, 500)
    assert ours.count_stream(io.BytesIO(text.encode()), "t.txt") == len(tok.encode(text).ids)


def test_the_window_tokenize_reports(tiny_gpt2: Path) -> None:
    # MiniLM reads at most 256 tokens (sentence_bert_config.json); the tiny GPT-2 has 64 positions.
    assert HFProvider({}).tokenizer(hf_ref(minilm_folder())).context_window == 256  # type: ignore[attr-defined]
    assert HFProvider({}).tokenizer(hf_ref(tiny_gpt2)).context_window == 64  # type: ignore[attr-defined]
