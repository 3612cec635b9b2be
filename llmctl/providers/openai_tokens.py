"""OpenAI tokenizers: tiktoken encodings, offline, exact, and quick to start.

Short inputs are encoded by a small byte-pair merge over the memory-mapped rank index (see
tiktoken_vocab), which needs only the ranks of the input's own substrings; longer inputs and
whole files go to tiktoken itself. Both follow tiktoken's rules exactly: the encoding's
pre-tokenizer regex splits the text, then each piece is merged lowest-rank-pair first.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from llmctl.core.errors import InputError, NetworkError, UsageError
from llmctl.core.inputs import decode_utf8
from llmctl.providers.base import ModelRef, Tokenizer
from llmctl.providers.tiktoken_vocab import BUNDLED, RankIndex, open_index, tiktoken_encoding

#: Above this many characters tiktoken's own table pays for itself.
SHORT_TEXT_CHARS = 4096
#: Bytes read per piece when counting a file.
STREAM_PIECE_BYTES = 4 << 20
_ASCII_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ASCII_LETTER = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def safe_cut(data: bytes | bytearray, lo: int = 0) -> int:
    """The last offset in data where every tiktoken pre-tokenizer (cl100k, o200k) must cut.

    No pattern alternative matches a newline followed by an ASCII letter or digit (newlines only
    end a piece), nor an ASCII letter followed by a space (letters are followed only by letters,
    marks or a contraction). So a piece boundary is certain there, whatever came before: counting
    the parts separately gives exactly the count of the whole. Returns -1 when there is none.
    """
    pos = len(data) - 1
    while True:
        pos = data.rfind(b"\n", lo, pos)
        if pos < 0:
            break
        if pos + 1 < len(data) and data[pos + 1] in _ASCII_WORD:
            return pos + 1
    pos = len(data) - 1
    while True:
        pos = data.rfind(b" ", lo, pos)
        if pos <= lo:
            return -1
        if data[pos - 1] in _ASCII_LETTER:
            return pos


class TiktokenTokenizer(Tokenizer):
    """One tiktoken encoding (cl100k_base, o200k_base bundled; r50k/p50k through tiktoken)."""

    def __init__(self, encoding_name: str) -> None:
        self.name = f"tiktoken:{encoding_name}"
        self.encoding_name = encoding_name
        self._bundled = BUNDLED.get(encoding_name)
        self._index: RankIndex | None = None
        self._encoding: Any = None
        self._pattern: Any = None
        self._piece_cache: dict[bytes, list[int]] = {}

    # ---------------------------------------------------------------- backends
    def _tiktoken(self) -> Any:
        if self._encoding is None:
            if self._bundled is not None:
                self._encoding = tiktoken_encoding(self.encoding_name)
            else:
                self._encoding = _download_encoding(self.encoding_name)
        return self._encoding

    def _rank_index(self) -> RankIndex | None:
        if self._index is None and self._bundled is not None:
            self._index = open_index(self.encoding_name)
        return self._index

    def _merge(self, index: RankIndex, piece: bytes) -> list[int]:
        whole = index.rank(piece)
        if whole is not None:
            return [whole]
        cached = self._piece_cache.get(piece)
        if cached is not None:
            return cached
        parts = [piece[i : i + 1] for i in range(len(piece))]
        while len(parts) > 1:
            best_rank = -1
            best_at = -1
            for i in range(len(parts) - 1):
                rank = index.rank(parts[i] + parts[i + 1])
                if rank is not None and (best_rank < 0 or rank < best_rank):
                    best_rank, best_at = rank, i
            if best_at < 0:
                break
            parts[best_at : best_at + 2] = [parts[best_at] + parts[best_at + 1]]
        ids = [index.rank(p) for p in parts]
        result = [i for i in ids if i is not None]
        self._piece_cache[piece] = result
        return result

    def _encode_short(self, index: RankIndex, text: str) -> list[int]:
        if self._pattern is None:
            import regex

            assert self._bundled is not None
            self._pattern = regex.compile(self._bundled.pattern)
        ids: list[int] = []
        for match in self._pattern.finditer(text):
            ids.extend(self._merge(index, match.group().encode("utf-8")))
        return ids

    # ---------------------------------------------------------------- interface
    def encode(self, text: str) -> list[int]:
        text = _clean(text)
        if len(text) <= SHORT_TEXT_CHARS:
            index = self._rank_index()
            if index is not None:
                return self._encode_short(index, text)
        return list(self._tiktoken().encode_ordinary(text))

    def count(self, text: str) -> int:
        text = _clean(text)
        if len(text) <= SHORT_TEXT_CHARS:
            return len(self.encode(text))
        return _count_buffer(self._tiktoken(), text)

    def decode(self, ids: list[int]) -> str:
        self.check_ids(ids)
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        specials = self.special_tokens
        for text, value in specials.items():
            if value == token_id:
                return text.encode()
        index = self._rank_index()
        if index is not None and 0 <= token_id < index.size:
            return index.token_bytes(token_id)
        return bytes(self._tiktoken().decode_single_token_bytes(token_id))

    @property
    def special_tokens(self) -> dict[str, int]:
        if self._bundled is not None:
            return self._bundled.special_tokens
        return dict(self._tiktoken()._special_tokens)

    @property
    def vocab_size(self) -> int:
        if self._bundled is not None:
            return max([self._bundled.n_vocab - 1, *self._bundled.special_tokens.values()]) + 1
        return int(self._tiktoken().n_vocab)

    def check_ids(self, ids: list[int]) -> None:
        ordinary = self._bundled.n_vocab if self._bundled is not None else None
        specials = set(self.special_tokens.values())
        for i in ids:
            if i in specials:
                continue
            if i < 0 or (ordinary is not None and i >= ordinary) or i >= self.vocab_size:
                raise InputError(f"token id {i} is not in the {self.encoding_name} vocabulary")

    def count_stream(self, stream: BinaryIO, source: str) -> int:
        """Count a file of any size exactly, in pieces, on every core, without token lists."""
        return count_in_pieces(self._tiktoken(), stream, source)


def count_in_pieces(encoding: Any, stream: BinaryIO, source: str) -> int:
    """Count a stream with a tiktoken-style encoding, exactly, in pieces on every core.

    Pieces end only at `safe_cut` points, so the sum of their counts is the count of the whole
    text; tiktoken encodes each into a buffer without building Python lists (and without the GIL).
    """
    workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    total = 0
    offset = 0
    pending = bytearray()
    queue: deque[Future[int]] = deque()

    def count_piece(data: bytes, at: int) -> int:
        return _count_buffer(encoding, decode_utf8(data, source, base_offset=at))

    # Measured: when the encoding's very first search runs on two threads at once, every later
    # search in the process runs about 1.8x slower (the regex engine's per-thread cache setup);
    # one search on this thread first avoids it.
    _count_buffer(encoding, "warm up")

    with ThreadPoolExecutor(workers) as pool:
        while True:
            block = stream.read(STREAM_PIECE_BYTES)
            pending += block
            # Only the new bytes (and the one before them) can hold a cut point not seen yet.
            cut = safe_cut(pending, lo=max(0, len(pending) - len(block) - 1)) if block else len(pending)
            if cut > 0:
                piece = bytes(pending[:cut])
                del pending[:cut]
                queue.append(pool.submit(count_piece, piece, offset))
                offset += len(piece)
            while len(queue) > workers + 1 or (queue and not block):
                total += queue.popleft().result()
            if not block:
                break
    return total


def _count_buffer(encoding: Any, text: str) -> int:
    # The buffer path skips building a Python list of ints (and the GIL while it encodes).
    buffer = encoding._core_bpe.encode_to_tiktoken_buffer(text, set())
    return memoryview(buffer).nbytes // 4


def _clean(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # Lone surrogates (from undecodable arguments) become U+FFFD, as tiktoken does.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _download_encoding(name: str) -> Any:
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # tiktoken raises plain exceptions from requests/OSError
        raise NetworkError(
            f"the {name} vocabulary is not bundled and could not be downloaded "
            f"({type(exc).__name__}); it needs network access once, then tiktoken caches it"
        ) from None


_TOKENIZERS: dict[str, TiktokenTokenizer] = {}


def tokenizer_for_encoding(name: str) -> TiktokenTokenizer:
    if name not in _TOKENIZERS:
        _TOKENIZERS[name] = TiktokenTokenizer(name)
    return _TOKENIZERS[name]


def openai_tokenizer(ref: ModelRef) -> TiktokenTokenizer:
    """The tokenizer of an OpenAI model; unknown models on custom endpoints get o200k_base."""
    encoding = ref.spec.get("encoding")
    if not isinstance(encoding, str):
        if ref.settings.get("custom_endpoint"):
            encoding = "o200k_base"
        else:
            raise UsageError(f"no tokenizer is known for {ref.label}")
    return tokenizer_for_encoding(encoding)
