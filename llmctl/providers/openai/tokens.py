"""OpenAI tokenizers: tiktoken encodings, offline, exact, and quick to start.

Short inputs are encoded by a small byte-pair merge over the memory-mapped rank index (see
tiktoken_vocab), which needs only the ranks of the input's own substrings; longer inputs and
whole files go to tiktoken itself. Both follow tiktoken's rules exactly: the encoding's
pre-tokenizer regex splits the text, then each piece is merged lowest-rank-pair first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, BinaryIO

from llmctl.core.errors import InputError, NetworkError, UsageError
from llmctl.providers.base import ModelRef, Tokenizer
from llmctl.providers.openai.vocab import BUNDLED, RankIndex, open_index, tiktoken_encoding
from llmctl.tokencount.tiktoken_pieces import count_buffer, count_in_pieces

#: OpenAI's documented chat framing: every message costs 3 tokens beyond its texts, the reply 3 more.
TOKENS_PER_MESSAGE = 3
REPLY_PRIMER = 3
#: What counts usage an OpenAI-compatible server did not report, when nothing better is named.
FALLBACK_ENCODING = "o200k_base"


def framed_chat_tokens(count: Callable[[str], int], messages: list[dict[str, str]]) -> int:
    """Prompt tokens of a chat as OpenAI frames it (`<|im_start|>ROLE<|im_sep|>TEXT<|im_end|>`)."""
    return sum(TOKENS_PER_MESSAGE + count(m["role"]) + count(m["content"]) for m in messages) + REPLY_PRIMER


#: Above this many characters tiktoken's own table pays for itself.
SHORT_TEXT_CHARS = 4096
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
        if len(text) <= SHORT_TEXT_CHARS and _classified_alike(text):
            index = self._rank_index()
            if index is not None:
                return self._encode_short(index, text)
        return list(self._tiktoken().encode_ordinary(text))

    def count(self, text: str) -> int:
        text = _clean(text)
        if len(text) <= SHORT_TEXT_CHARS:
            return len(self.encode(text))
        return count_buffer(self._tiktoken(), text)

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
        pattern = self._bundled.pattern if self._bundled is not None else str(self._tiktoken()._pat_str)
        return count_in_pieces(self._tiktoken, stream, source, pattern)


def _classified_alike(text: str) -> bool:
    """Whether the `regex` module and tiktoken's own regex engine surely split `text` alike.

    Each engine carries its own Unicode tables, of different versions: a code point assigned in a
    recent version (or still unassigned) can be a letter to one and a symbol to the other, which
    moves the pre-tokenizer's cuts (U+3D000 before ":A" does). Python's tables are the oldest of the
    three, so a character they do not know yet sends the text to tiktoken itself.
    """
    if text.isascii():
        return True
    import unicodedata

    return not any(unicodedata.category(c) == "Cn" for c in text if ord(c) > 0x7F)


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


@cache
def tokenizer_for_encoding(name: str) -> TiktokenTokenizer:
    """One tokenizer per name in a process: its tables load once."""
    return TiktokenTokenizer(name)


def openai_tokenizer(ref: ModelRef) -> TiktokenTokenizer:
    """The tokenizer of an OpenAI model; unknown models on custom endpoints get o200k_base."""
    encoding = ref.facts.encoding
    if encoding is None:
        if ref.settings.custom_endpoint:
            encoding = "o200k_base"
        else:
            raise UsageError(f"no tokenizer is known for {ref.label}")
    return tokenizer_for_encoding(encoding)
