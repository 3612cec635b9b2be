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

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_READ_BLOCK = 8 << 20
_PIECE = 64 << 10

#: normalizers that act on each character alone, so a text cut at a line end normalizes in pieces
_LOCAL_NORMALIZERS = frozenset({"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents"})

# ---------------------------------------------------------------- where a text may be cut, and why
# A count in pieces equals the count of the whole only if the pre-tokenizer splits the whole text
# at the cut anyway and splits both pieces as it splits the whole: the model (BPE, WordPiece,
# Unigram) never joins pre-tokens, and the normalizers above act on one character at a time.
# Each rule below is proved from its pre-tokenizer's pattern; any other pre-tokenizer is counted
# whole.
#
# WHITESPACE_CUT, a line end followed by an ASCII letter, for the Split patterns of cl100k (Llama 3)
# and Qwen 2, and for the whitespace splitters:
#   * Split with `...|[^\r\n\p{L}\p{N}]?\p{L}+|...| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:
#     no alternative matches a line end followed by a letter (a letter run's optional prefix
#     excludes \r and \n; the punctuation and whitespace alternatives stop before a letter), so a
#     pre-token ends at the cut. The whitespace run that ends there contains a line end, so
#     `\s*[\r\n]+`, which comes before the lookahead alternative `\s+(?!\S)`, matches all of it,
#     and it matches the same at the end of the left piece: no match left of the cut looks past
#     it. The patterns have no lookbehind, so the right piece splits as the whole does from there.
#   * Whitespace, WhitespaceSplit and BertPreTokenizer drop whitespace and split at it: the line
#     end is dropped in both texts and the letter starts a pre-token in both.
# GPT2_CUT, a line end between a visible ASCII character and an ASCII letter, for ByteLevel with
# GPT-2's own pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`:
#   * Here a whitespace run before a letter is split by the lookahead: in "a \nB" the whole text
#     gives " " and "\n", but the left piece "a \n" ends with " \n" as one pre-token (the lookahead
#     holds at the end of the text), which a vocabulary that merges " \n" counts as one token, not
#     two. With a visible character before the line end, the run is the line end alone: `\s+(?!\S)`
#     fails on it in the whole text and `\s+` takes it; at the end of the left piece `\s+(?!\S)`
#     takes the same single character. Nothing else matches a line end, no match starting left of
#     it can reach it (they start with a space or a non-space, and end before whitespace), and
#     with no lookbehind the right piece splits as the whole does. A visible ASCII character
#     ([!-~]) is whitespace in no definition of \s, which keeps the rule safe from regex engines'
#     differences over Unicode spaces.
WHITESPACE_CUT = re.compile(r"\n(?=[A-Za-z])")
GPT2_CUT = re.compile(r"(?<=[!-~])\n(?=[A-Za-z])")

#: The Split patterns the WHITESPACE_CUT proof covers, as tokenizer.json writes them.
_PROVED_SPLIT_PATTERNS = frozenset({
    # cl100k_base, and Llama 3's tokenizer
    (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
     r"\s*[\r\n]+|\s+(?!\S)|\s+"),
    # Qwen 2 and later: single digits
    (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
     r"\s*[\r\n]+|\s+(?!\S)|\s+"),
})
_WHITESPACE_SPLITTERS = frozenset({"BertPreTokenizer", "Whitespace", "WhitespaceSplit"})
#: Splitters that only add boundaries, each decided by the characters beside it.
_LOCAL_SPLITTERS = frozenset({"Digits", "Punctuation"})

_PROBES = ("Hello, world.\nNext line", "x.\n\nAbc d", " \t\nZeta 12", "caf\u00e9 \u2014\nOk", "<|endoftext|>\nEnd",
           "[INST] hi\r\nThere", "1234\nabc", "emoji \U0001f600\nA", "'s\nthe", "\u4e2d\u6587\nWord", "a \nB c\nD",
           "x\n\nY z.\nQ")


def cut_rule(spec: dict[str, Any]) -> re.Pattern[str] | None:
    """Where this tokenizer.json's pre-tokenizer provably allows a cut (see the proofs above), or None."""
    for norm in _component_types(spec.get("normalizer"), "normalizers"):
        if norm.get("type") not in _LOCAL_NORMALIZERS:
            return None
    pre = _component_types(spec.get("pre_tokenizer"), "pretokenizers")
    kinds = [m.get("type") for m in pre]
    if not pre:
        return None
    if kinds == ["ByteLevel"]:
        member = pre[0]
        if member.get("use_regex", True) and not member.get("add_prefix_space"):
            return GPT2_CUT
        return None
    first, rest = pre[0], pre[1:]
    if first.get("type") == "Split":
        pattern = (first.get("pattern") or {}).get("Regex")
        if pattern not in _PROVED_SPLIT_PATTERNS or first.get("invert") or first.get("behavior") != "Isolated":
            return None
        # After the split, ByteLevel only maps bytes to its stand-ins (no pattern, no prefix space).
        if all(m.get("type") == "ByteLevel" and m.get("use_regex") is False and not m.get("add_prefix_space")
               for m in rest):
            return WHITESPACE_CUT
        return None
    if first.get("type") in _WHITESPACE_SPLITTERS and all(
            m.get("type") in _WHITESPACE_SPLITTERS | _LOCAL_SPLITTERS for m in rest):
        return WHITESPACE_CUT
    return None


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
    def cut_rule(self) -> re.Pattern[str] | None:
        """Where a large text may be cut and still count exactly (module notes), or None: count it whole."""
        rule = cut_rule(self._spec)
        if rule is None:
            return None
        for token in self._spec.get("added_tokens", []):
            content = str(token.get("content", ""))
            if token.get("special"):
                continue
            # An added word holding a line end, or one that eats the space before a letter, spans cuts.
            if "\n" in content or (token.get("lstrip") and content[:1].isascii() and content[:1].isalpha()):
                return None
        # The proofs are the reasoning; the probes check this very tokenizer against them.
        for probe in _PROBES:
            for match in rule.finditer(probe):
                cut = match.end()
                if self.count(probe) != self.count(probe[:cut]) + self.count(probe[cut:]):
                    return None
        return rule

    @property
    def cuts_exactly(self) -> bool:
        return self.cut_rule is not None

    def _pieces(self, stream: BinaryIO, source: str, rule: re.Pattern[str]) -> Iterator[str]:
        """The file's text in pieces of about _PIECE characters, cut only where the rule allows."""
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
                match = rule.search(text, start + _PIECE)
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
            for piece in self._pieces(stream, source, rule):
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

    def _count_batch(self, pieces: list[str]) -> int:
        # The Rust side spreads a batch over every core; offsets are not needed for a count.
        return sum(len(e) for e in self._tok.encode_batch_fast(pieces, add_special_tokens=False))
