"""Counting in pieces (llmctl.tokencount.tiktoken_pieces) gives tiktoken's count of the whole text.

The reference is `tiktoken.get_encoding` itself (offline, from the verified files; see the
real_tiktoken fixture). OpenAI's tokenizer is the glue that hands a stream to the pieces.
"""

from __future__ import annotations

import io
import os
import random

import pytest
from support.texts import VARIED_TEXTS

from llmctl.core.errors import InputError
from llmctl.providers.openai.tokens import TiktokenTokenizer
from llmctl.tokencount.tiktoken_pieces import first_safe_cut, safe_cut

#: Prose, code, CJK, emoji, whitespace runs and the line ends and spaces the cut rules look at.
PARTS = [
    *VARIED_TEXTS,
    "\n", "\n\n", "  \n", "x\n/", "word ", "Word\n", "\r\n",
]


@pytest.fixture(scope="module", params=["o200k_base", "cl100k_base"])
def pair(request: pytest.FixtureRequest, real_tiktoken) -> tuple[TiktokenTokenizer, object]:
    return TiktokenTokenizer(request.param), real_tiktoken[request.param]


def _mixed_document(seed: int, size: int) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        piece = rng.choice(PARTS)
        out.append(piece)
        total += len(piece)
    return "".join(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_count_stream_in_pieces_equals_whole_text_count(pair, seed: int, monkeypatch) -> None:
    tokenizer, encoding = pair
    import llmctl.tokencount.tiktoken_pieces as module

    # Small pieces so a few hundred KB cross many cut points.
    monkeypatch.setattr(module, "STREAM_PIECE_BYTES", 4096)
    text = _mixed_document(seed, 300_000)
    expected = len(encoding.encode_ordinary(text))
    assert tokenizer.count_stream(io.BytesIO(text.encode()), "doc") == expected


def test_count_stream_reports_bad_utf8_with_offset(monkeypatch) -> None:
    import llmctl.tokencount.tiktoken_pieces as module

    monkeypatch.setattr(module, "STREAM_PIECE_BYTES", 1024)
    data = ("hello world\n" * 500).encode() + b"\xff\xfe" + b"more\n" * 10
    with pytest.raises(InputError, match=r"^doc.txt: not valid UTF-8 at byte offset 6000$"):
        TiktokenTokenizer("o200k_base").count_stream(io.BytesIO(data), "doc.txt")


def test_safe_cut_only_at_certain_boundaries() -> None:
    assert safe_cut(b"abc\ndef") == 4
    assert safe_cut(b"abc\n def") == -1  # a newline before a space is no certain cut
    assert safe_cut(b"abc def") == 3  # no newline+word: falls back to letter+space
    assert safe_cut(b"\n\n\n   ") == -1
    assert safe_cut(b"x\n/y") == -1


def test_first_safe_cut_mirrors_safe_cut() -> None:
    assert first_safe_cut(b"abc\ndef\nghi") == 4
    assert first_safe_cut(b"  \n /x abc def") == 6  # after the x, before its space
    assert first_safe_cut(b"\n\n  ") == -1


@pytest.mark.parametrize("workers", [2, 3])
def test_regular_file_counted_in_ranges_on_processes(pair, tmp_path, monkeypatch, workers: int) -> None:
    import llmctl.tokencount.tiktoken_pieces as module

    tokenizer, encoding = pair
    monkeypatch.setattr(module, "FORK_MIN_BYTES", 1)
    monkeypatch.setattr(module, "STREAM_PIECE_BYTES", 8192)
    monkeypatch.setattr(module, "_workers", lambda: workers)
    text = _mixed_document(5, 400_000)
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    starts = module._range_starts(os.open(path, os.O_RDONLY), 0, path.stat().st_size, workers)
    assert len(starts) == workers  # the work really is split
    with path.open("rb") as fh:
        assert tokenizer.count_stream(fh, str(path)) == len(encoding.encode_ordinary(text))


def test_bad_utf8_in_a_later_range_names_its_offset(tmp_path, monkeypatch) -> None:
    import llmctl.tokencount.tiktoken_pieces as module

    monkeypatch.setattr(module, "FORK_MIN_BYTES", 1)
    monkeypatch.setattr(module, "_workers", lambda: 2)
    good = ("hello world\n" * 20_000).encode()
    path = tmp_path / "bad.txt"
    path.write_bytes(good + b"more \xff\xfe text\n" + good)
    with path.open("rb") as fh, pytest.raises(InputError) as info:
        TiktokenTokenizer("o200k_base").count_stream(fh, "bad.txt")
    assert info.value.message == f"bad.txt: not valid UTF-8 at byte offset {len(good) + 5}"
