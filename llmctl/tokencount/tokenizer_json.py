"""Exact counts in pieces for Hugging Face tokenizers: where a tokenizer.json's pre-tokenizer allows a cut.

`cut_rule` reads the tokenizer.json (normalizers and pre-tokenizers) and names a proved cut rule or
None; `checked_cut_rule` also refuses added words that could span a cut and checks the rule on
PROBES against the tokenizer's own counts; `pieces` reads a byte stream and yields its text cut only
where the rule allows, so the counts of the pieces add up to the count of the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from llmctl.core.inputs import decode_utf8

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

#: Texts with a cut each rule allows, counted whole and in two, against the tokenizer itself.
PROBES = ("Hello, world.\nNext line", "x.\n\nAbc d", " \t\nZeta 12", "caf\u00e9 \u2014\nOk", "<|endoftext|>\nEnd",
           "[INST] hi\r\nThere", "1234\nabc", "emoji \U0001f600\nA", "'s\nthe", "\u4e2d\u6587\nWord", "a \nB c\nD",
           "x\n\nY z.\nQ")


def cut_rule(spec: dict[str, Any]) -> re.Pattern[str] | None:
    """Where this tokenizer.json's pre-tokenizer provably allows a cut (see the proofs above), or None."""
    for norm in component_types(spec.get("normalizer"), "normalizers"):
        if norm.get("type") not in _LOCAL_NORMALIZERS:
            return None
    pre = component_types(spec.get("pre_tokenizer"), "pretokenizers")
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



def component_types(node: Any, key: str) -> list[dict[str, Any]]:
    """A normalizer or pre-tokenizer and, for a Sequence, its members."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        members = node.get(key) or []
        return [m for m in members if isinstance(m, dict)]
    return [node]


def checked_cut_rule(spec: dict[str, Any], count: Callable[[str], int]) -> re.Pattern[str] | None:
    """The cut rule of this very tokenizer (its tokenizer.json and `count`), or None: count it whole."""
    rule = cut_rule(spec)
    if rule is None:
        return None
    for token in spec.get("added_tokens", []):
        content = str(token.get("content", ""))
        if token.get("special"):
            continue
        # An added word holding a line end, or one that eats the space before a letter, spans cuts.
        if "\n" in content or (token.get("lstrip") and content[:1].isascii() and content[:1].isalpha()):
            return None
    # The proofs are the reasoning; the probes check this very tokenizer against them.
    for probe in PROBES:
        for match in rule.finditer(probe):
            cut = match.end()
            if count(probe) != count(probe[:cut]) + count(probe[cut:]):
                return None
    return rule


def pieces(stream: BinaryIO, source: str, rule: re.Pattern[str], read_block: int, piece: int) -> Iterator[str]:
    """The stream's text in pieces of about `piece` characters, cut only where the rule allows.

    It reads `read_block` bytes at a time and decodes up to the last line end (always a character
    boundary in UTF-8), so a bad byte is reported with its offset in the whole stream.
    """
    pending = b""
    consumed = 0
    tail = ""
    while True:
        block = stream.read(read_block)
        data = pending + block
        if block:
            end = data.rfind(b"\n") + 1
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
            match = rule.search(text, start + piece)
            if match is None:
                break
            yield text[start:match.end()]
            start = match.end()
        tail = text[start:]
        if not block:
            if tail:
                yield tail
            return
