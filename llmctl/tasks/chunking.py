"""Cutting long text into pieces that fit a model's window: paragraphs, then sentences, then words.

Chunks are character spans into the original text, so offsets found in a chunk map straight back.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llmctl.providers.base import ModelRef, Provider

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_SENTENCE = re.compile(r"(?<=[.!?…。])[\"')\]]*\s+")
_WORD = re.compile(r"\s+")
#: the window assumed for an API model the configs give none for
DEFAULT_WINDOW = 8192


def context_window(provider: Provider, ref: ModelRef) -> int:
    """How many tokens the model reads at once, as its provider opens it (`Provider.usable_context`:
    --n-ctx for a GGUF file, say); the configs' window, else DEFAULT_WINDOW, where it says none."""
    return provider.usable_context(ref) or ref.context_window or DEFAULT_WINDOW


def _pieces(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Spans of `text[start:end]` between the separators `pattern` matches (separators left out)."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in pattern.finditer(text, start, end):
        if match.start() > cursor:
            spans.append((cursor, match.start()))
        cursor = match.end()
    if cursor < end:
        spans.append((cursor, end))
    return spans


def _small_pieces(text: str, count: Callable[[str], int], budget: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of pieces each within `budget`: the coarsest cut that fits wins."""
    out: list[tuple[int, int, int]] = []
    levels = (_PARAGRAPH, _SENTENCE, _WORD)

    def cut(start: int, end: int, level: int) -> None:
        tokens = count(text[start:end])
        if tokens <= budget:
            out.append((start, end, tokens))
            return
        if level == len(levels):
            # One "word" longer than the budget (a URL, a base64 blob): cut it by characters.
            step = max(1, (end - start) * budget // tokens)
            for s in range(start, end, step):
                out.append((s, min(end, s + step), count(text[s:min(end, s + step)])))
            return
        parts = _pieces(text, start, end, levels[level])
        if len(parts) == 1 and parts[0] == (start, end):
            cut(start, end, level + 1)
            return
        for a, b in parts:
            cut(a, b, level + 1)

    for a, b in _pieces(text, 0, len(text), _PARAGRAPH):
        cut(a, b, 1)
    return out


def split_text(text: str, count: Callable[[str], int], budget: int) -> list[tuple[int, int]]:
    """Character spans covering the text's content, each at most `budget` tokens by `count`.

    Neighbouring pieces are packed together while they fit; a chunk never ends inside a sentence
    unless that sentence alone is over the budget.
    """
    if budget < 1:
        raise ValueError("the chunk budget must be at least one token")
    pieces = _small_pieces(text, count, budget)
    chunks: list[tuple[int, int]] = []
    start, end, used = -1, -1, 0
    for a, b, tokens in pieces:
        # Joining adds at most a token or two at the seam; one per piece keeps the sum an upper bound.
        if start >= 0 and used + tokens + 1 <= budget:
            end, used = b, used + tokens + 1
            continue
        if start >= 0:
            chunks.append((start, end))
        start, end, used = a, b, tokens
    if start >= 0:
        chunks.append((start, end))
    return chunks
