"""A Hugging Face model's own tokenizer, read from tokenizer.json with the `tokenizers` library (no torch)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any, BinaryIO

from llmctl.core.errors import InputError, MissingDependencyError, UsageError
from llmctl.core.inputs import decode_utf8
from llmctl.providers.base import Tokenizer

#: where a large text is cut for counting in parallel: after a line end, before an ASCII letter
_CUT = re.compile(r"\n(?=[A-Za-z])")
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_READ_BLOCK = 8 << 20
_PIECE = 64 << 10

#: normalizers that act on each character alone, so a text cut at a line end normalizes in pieces
_LOCAL_NORMALIZERS = frozenset({"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents"})
#: pre-tokenizers that always split after a line end followed by a letter (checked again by probes)
_SPLITTING_PRE_TOKENIZERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit", "ByteLevel", "Split",
                                       "Digits", "Punctuation"})
_PROBES = ("Hello, world.\nNext line", "x.\n\nAbc d", " \t\nZeta 12", "caf\u00e9 \u2014\nOk", "<|endoftext|>\nEnd",
           "[INST] hi\r\nThere", "1234\nabc", "emoji \U0001f600\nA", "'s\nthe", "\u4e2d\u6587\nWord")


def _byte_decoder() -> dict[str, int]:
    """The printable stand-ins byte-level BPE uses for each byte, mapped back to the byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1),
                 *range(ord("\u00ae"), ord("\u00ff") + 1)]
    mapping: dict[str, int] = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            mapping[chr(256 + extra)] = b
            extra += 1
    return mapping


def _component_types(node: Any, key: str) -> list[dict[str, Any]]:
    """A normalizer or pre-tokenizer and, for a Sequence, its members."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        members = node.get(key) or []
        return [m for m in members if isinstance(m, dict)]
    return [node]


class HFTokenizer(Tokenizer):
    """Wraps a `tokenizers.Tokenizer`: no special tokens added, special-token look-alikes read as text."""

    def __init__(self, backend: Any, name: str) -> None:
        self.name = name
        self.context_window: int | None = None
        self._tok = backend
        self._tok.no_truncation()
        self._tok.no_padding()
        # "<|endoftext|>" typed by a user is text, not the control token (as the APIs treat it).
        self._tok.encode_special_tokens = True
        self._spec: dict[str, Any] = json.loads(self._tok.to_str())

    @classmethod
    def from_file(cls, path: str, name: str) -> HFTokenizer:
        try:
            from tokenizers import Tokenizer as Backend
        except ImportError:
            raise MissingDependencyError("tokenizers", "hf") from None
        try:
            return cls(Backend.from_file(path), name)
        except Exception as exc:  # the Rust side raises a bare Exception for a malformed file
            raise UsageError(f"{name}: cannot read {path}: {' '.join(str(exc).split())[:200]}") from None

    # ---------------------------------------------------------------- basics
    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        self.check_ids(ids)
        return str(self._tok.decode(ids, skip_special_tokens=False))

    @cached_property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    @cached_property
    def _byte_level(self) -> bool:
        decoders = _component_types(self._spec.get("decoder"), "decoders")
        return any(d.get("type") == "ByteLevel" for d in decoders)

    @cached_property
    def _stand_ins(self) -> dict[str, int]:
        return _byte_decoder()

    @cached_property
    def _special_ids(self) -> frozenset[int]:
        return frozenset(int(t["id"]) for t in self._spec.get("added_tokens", []) if t.get("special"))

    def token_bytes(self, token_id: int) -> bytes:
        self.check_ids([token_id])
        piece = self._tok.id_to_token(token_id)
        if piece is None:
            raise InputError(f"token id {token_id} is not in the vocabulary of {self.name}")
        if token_id in self._special_ids:
            return piece.encode("utf-8")
        if self._byte_level:
            stand_ins = self._stand_ins
            if all(ch in stand_ins for ch in piece):
                return bytes(stand_ins[ch] for ch in piece)
            return piece.encode("utf-8")
        byte = _BYTE_TOKEN.fullmatch(piece)
        if byte:
            return bytes([int(byte.group(1), 16)])
        model = self._spec.get("model") or {}
        prefix = model.get("continuing_subword_prefix") if model.get("type") == "WordPiece" else None
        if prefix and piece.startswith(prefix):
            piece = piece[len(prefix):]
        return piece.replace("\u2581", " ").encode("utf-8")

    # ------------------------------------------------------ counting big files
    @cached_property
    def cuts_exactly(self) -> bool:
        """Whether a text cut after a line end (before an ASCII letter) counts the same in pieces."""
        for norm in _component_types(self._spec.get("normalizer"), "normalizers"):
            if norm.get("type") not in _LOCAL_NORMALIZERS:
                return False
        pre = _component_types(self._spec.get("pre_tokenizer"), "pretokenizers")
        if not pre:
            return False
        for member in pre:
            kind = member.get("type")
            if kind not in _SPLITTING_PRE_TOKENIZERS:
                return False
            if kind == "ByteLevel" and (member.get("add_prefix_space") or member.get("use_regex") is False):
                return False
        if not any(m.get("type") != "Digits" and m.get("type") != "Punctuation" for m in pre):
            return False
        for token in self._spec.get("added_tokens", []):
            content = str(token.get("content", ""))
            if token.get("special"):
                continue
            if "\n" in content or (token.get("lstrip") and content[:1].isascii() and content[:1].isalpha()):
                return False
        # The rules above are the reasoning; the probes are the proof on this very tokenizer.
        for probe in _PROBES:
            cut = probe.index("\n") + 1
            if self.encode(probe) != self.encode(probe[:cut]) + self.encode(probe[cut:]):
                return False
        return True

    def _pieces(self, stream: BinaryIO, source: str) -> Iterator[str]:
        """The file's text in pieces of about _PIECE characters, cut only where counting allows."""
        pending = b""
        consumed = 0
        tail = ""
        while True:
            block = stream.read(_READ_BLOCK)
            data = pending + block
            if block:
                end = data.rfind(b"\n") + 1  # a line end is always a character boundary in UTF-8
                if end == 0:
                    pending = data
                    continue
                data, pending = data[:end], data[end:]
            else:
                pending = b""
            text = tail + decode_utf8(data, source, base_offset=consumed)
            consumed += len(data)
            start = 0
            while True:
                match = _CUT.search(text, start + _PIECE)
                if match is None:
                    break
                yield text[start:match.end()]
                start = match.end()
            tail = text[start:]
            if not block:
                if tail:
                    yield tail
                return

    def count_stream(self, stream: BinaryIO, source: str) -> int:
        if not self.cuts_exactly:
            return self.count(decode_utf8(stream.read(), source))
        total = 0
        batch: list[str] = []
        size = 0
        for piece in self._pieces(stream, source):
            batch.append(piece)
            size += len(piece)
            if size >= _READ_BLOCK:
                total += self._count_batch(batch)
                batch, size = [], 0
        if batch:
            total += self._count_batch(batch)
        return total

    def _count_batch(self, pieces: list[str]) -> int:
        # The Rust side spreads a batch over every core; offsets are not needed for a count.
        return sum(len(e) for e in self._tok.encode_batch_fast(pieces, add_special_tokens=False))
