"""A Hugging Face model's own tokenizer, read from tokenizer.json with the `tokenizers` library (no torch)."""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any, BinaryIO

from llmctl.core.errors import InputError, MissingDependencyError, UsageError
from llmctl.core.inputs import decode_utf8
from llmctl.providers.base import Tokenizer
from llmctl.tokencount.tokenizer_json import checked_cut_rule, component_types, pieces

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
#: Bytes read at a time from a big file, and the characters of one piece (llmctl.tokencount.tokenizer_json.pieces).
_READ_BLOCK = 8 << 20
_PIECE = 64 << 10


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
        decoders = component_types(self._spec.get("decoder"), "decoders")
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
    def cut_rule(self) -> re.Pattern[str] | None:
        """Where a large text may be cut and still count exactly (llmctl.tokencount), or None: count it whole."""
        return checked_cut_rule(self._spec, self.count)

    @property
    def cuts_exactly(self) -> bool:
        return self.cut_rule is not None

    def count_stream(self, stream: BinaryIO, source: str) -> int:
        rule = self.cut_rule
        if rule is None:
            return self.count(decode_utf8(stream.read(), source))
        from concurrent.futures import Future, ThreadPoolExecutor

        total = 0
        batch: list[str] = []
        size = 0
        pending: Future[int] | None = None
        # One batch is encoded (in Rust, without the GIL) while the next one is read and cut.
        with ThreadPoolExecutor(1) as encoder:
            for piece in pieces(stream, source, rule, _READ_BLOCK, _PIECE):
                batch.append(piece)
                size += len(piece)
                if size >= _READ_BLOCK:
                    if pending is not None:
                        total += pending.result()
                    pending = encoder.submit(self._count_batch, batch)
                    batch, size = [], 0
            if pending is not None:
                total += pending.result()
        if batch:
            total += self._count_batch(batch)
        return total

    def _count_batch(self, batch: list[str]) -> int:
        # The Rust side spreads a batch over every core; offsets are not needed for a count.
        return sum(len(e) for e in self._tok.encode_batch_fast(batch, add_special_tokens=False))
