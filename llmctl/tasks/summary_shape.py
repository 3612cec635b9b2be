"""A summary made to keep its promises: the style asked for, the word limit, no copy of the input.

A small model often ignores the style, runs over `--max-words`, stops mid-sentence at its token cap,
or copies the text back. These steps work on the model's answer (and, for a copy, on the input),
whole sentences only, so what the record holds is what the options asked for, or says why not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: --max-words holds within this share more words (a model counts loosely; a sentence is not split)
WORDS_TOLERANCE = 0.1
#: an answer is a copy of the input when it is at least this share of the input's length (a copy
#: is often cut by the token cap) and this share of its word trigrams are the input's own
COPY_LENGTH = 0.4
COPY_OVERLAP = 0.8
#: without --max-words, an extract keeps about this share of the input's words (at least a sentence)
EXTRACT_SHARE = 0.3

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")


def words(text: str) -> int:
    """Words as a reader counts them: list marks are not words."""
    return sum(len(_BULLET.sub("", line).split()) for line in text.splitlines())


def sentences(text: str) -> list[str]:
    """The text's sentences, in order (a line break also ends one)."""
    out: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        if line:
            out.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return out


def allowed_words(max_words: int) -> int:
    """The most words a summary under --max-words may have: the limit and its tolerance."""
    return max_words + math.ceil(max_words * WORDS_TOLERANCE)


def copied(summary: str, source: str) -> bool:
    """Whether the answer is the input given back (most of its length, made of its word trigrams)."""
    mine, theirs = summary.lower().split(), source.lower().split()
    if len(mine) < 3 or len(theirs) < 3 or len(mine) < COPY_LENGTH * len(theirs):
        return False
    grams = {tuple(theirs[i:i + 3]) for i in range(len(theirs) - 2)}
    own = [tuple(mine[i:i + 3]) for i in range(len(mine) - 2)]
    return sum(g in grams for g in own) >= COPY_OVERLAP * len(own)


def drop_unfinished(summary: str) -> str:
    """An answer cut by its token cap without its last, unfinished sentence (kept when it is all there is)."""
    text = summary.rstrip()
    if not text or text[-1] in ".!?\"'”’)":
        return text
    lines = text.splitlines()
    if len(lines) > 1 and _BULLET.match(lines[-1]):
        return "\n".join(lines[:-1]).rstrip()
    parts = _SENTENCE_END.split(text)
    return text[:len(text) - len(parts[-1])].rstrip() if len(parts) > 1 else text


def extract(source: str, max_words: int | None) -> str:
    """The input's leading sentences that fit the word limit (without one, about EXTRACT_SHARE of it):
    on short news-like texts the lead beats what a 135M model writes (benchmarks/bench_tasks.py)."""
    found = sentences(source)
    if not found:
        return source.strip()
    limit = allowed_words(max_words) if max_words is not None else max(1, round(words(source) * EXTRACT_SHARE))
    chosen: list[str] = []
    for sentence in found:
        if words(" ".join([*chosen, sentence])) > limit:
            if chosen:
                break
            continue  # the first sentence alone is too long: try the next one
        chosen.append(sentence)
    return " ".join(chosen) if chosen else found[0]


def styled(summary: str, style: str) -> str:
    """The answer in the asked style: bullets one point a line with '- ', a headline one line."""
    if style == "bullets":
        lines = [line.strip() for line in summary.splitlines() if line.strip()]
        if len(lines) > 1 and all(_BULLET.match(line) for line in lines):
            return "\n".join("- " + _BULLET.sub("", line) for line in lines)
        return "\n".join(f"- {sentence}" for sentence in sentences(summary))
    if style == "headline":
        found = sentences(summary)
        return found[0] if found else summary.strip()
    return " ".join(sentences(summary)) if "\n" in summary.strip() else summary.strip()


def fit(summary: str, style: str, max_words: int) -> str:
    """Whole sentences (or bullet points) from the start while the limit holds; the first one at least."""
    if words(summary) <= allowed_words(max_words):
        return summary
    units = summary.splitlines() if style == "bullets" else sentences(summary)
    kept: list[str] = []
    for unit in units:
        if kept and words("\n".join([*kept, unit])) > allowed_words(max_words):
            break
        kept.append(unit)
    return ("\n" if style == "bullets" else " ").join(kept)


@dataclass(frozen=True)
class Shaped:
    summary: str
    #: "model", or "extractive" where the model gave the input back or could not keep to --max-words
    method: str
    words: int
    #: None without --max-words; else whether the summary is over it beyond the tolerance
    max_words_exceeded: bool | None


def shape(answer: str, source: str, style: str, max_words: int | None, cut: bool) -> Shaped:
    """The record's summary from the model's final answer (`cut`: it stopped at its token cap)."""
    method = "model"
    text = drop_unfinished(answer) if cut else answer.strip()
    if copied(text, source) or not text:
        method, text = "extractive", extract(source, max_words)
    text = styled(text, style)
    if max_words is not None:
        text = fit(text, style, max_words)
        if method == "model" and words(text) > allowed_words(max_words):
            # Even its first sentence is over the limit: the input's lead holds it (and scores better
            # against written references than a 135M model's own sentence, bench_tasks.py).
            lead = fit(styled(extract(source, max_words), style), style, max_words)
            if words(lead) <= allowed_words(max_words):
                method, text = "extractive", lead
    count = words(text)
    exceeded = None if max_words is None else count > allowed_words(max_words)
    return Shaped(text, method, count, exceeded)
