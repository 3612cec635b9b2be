"""ULIDs: 48 bits of milliseconds then 80 random bits, in Crockford's base32 (26 characters, sort by time)."""

from __future__ import annotations

import os
import time

#: Crockford's base32: no I, L, O or U, so an id read aloud or retyped is not mistaken
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 26


def new_ulid(now_ms: int | None = None) -> str:
    """A new id; ids made in later milliseconds sort after earlier ones."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_ulid(text: str) -> bool:
    return len(text) == LENGTH and all(c in ALPHABET for c in text.upper()) and text[0] in "01234567"


def ulid_ms(text: str) -> int:
    """The milliseconds since the epoch a ULID was made at."""
    value = 0
    for char in text.upper()[:10]:
        value = value * 32 + ALPHABET.index(char)
    return value
