"""Reading and checking a GGUF file's header before llama.cpp sees it (pure Python, no numpy)."""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmctl.core.errors import UsageError

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

#: ggml tensor type id -> (elements per block, bytes per block); tests check it against `gguf`.
GGML_BLOCK_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
    21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8),
    28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}

# GGUF value types: id -> struct format of a scalar (8 = string, 9 = array are handled apart).
_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
                            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")

#: Architectures that only embed (no language-model head).
EMBEDDING_ARCHITECTURES = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3",
                                     "t5encoder", "modern-bert", "neo-bert", "eurobert"})


class _Truncated(Exception):
    pass


#: string arrays (vocabularies, merges) read before, by (length, first bytes): their whole bytes
_STRING_ARRAYS: dict[tuple[int, bytes], bytes] = {}
_HEAD, _REMEMBER_FROM, _REMEMBER_AT_MOST = 64, 4096, 8


@dataclass
class ArrayInfo:
    """An array value, kept as its element type and length (token lists are long)."""

    type: int
    length: int


@dataclass
class GGUFHeader:
    """What a GGUF file says of itself, read without loading a single tensor."""

    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    data_offset: int = 0
    #: bytes the file must hold for every tensor it declares (None when a tensor type is unknown)
    required_size: int | None = None
    #: (name, shape, ggml type id) of every tensor, in file order
    tensors: list[tuple[str, tuple[int, ...], int]] = field(default_factory=list, repr=False)

    @property
    def architecture(self) -> str:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else ""

    def arch_value(self, key: str) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}")

    @property
    def context_length(self) -> int | None:
        value = self.arch_value("context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def embedding_length(self) -> int | None:
        value = self.arch_value("embedding_length")
        return int(value) if isinstance(value, int) else None

    @property
    def pooling_type(self) -> int | None:
        value = self.arch_value("pooling_type")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def is_embedding_only(self) -> bool:
        return self.architecture in EMBEDDING_ARCHITECTURES


class _Reader:
    def __init__(self, buf: Any, size: int) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0

    def take(self, fmt: str) -> Any:
        width = struct.calcsize(fmt)
        if self.pos + width > self.size:
            raise _Truncated
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += width
        return value

    def skip(self, count: int) -> None:
        if count < 0 or self.pos + count > self.size:
            raise _Truncated
        self.pos += count

    def string(self) -> str:
        length = self.take("<Q")
        if self.pos + length > self.size:
            raise _Truncated
        raw = bytes(self.buf[self.pos:self.pos + length])
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def _skip_strings(self, count: int) -> None:
        # Vocabularies hold ~10^5 strings: a tight loop keeps the tokenizer path fast, and an array
        # byte-identical to one read before (a quantized file keeps its source's vocabulary) is
        # recognised by one comparison: the same bytes cannot parse differently.
        start = self.pos
        head = bytes(self.buf[start:start + _HEAD])
        known = _STRING_ARRAYS.get((count, head))
        if known is not None and self.buf[start:start + len(known)] == known:
            self.pos = start + len(known)
            return
        unpack, buf, size, pos = _U64.unpack_from, self.buf, self.size, self.pos
        for _ in range(count):
            if pos + 8 > size:
                raise _Truncated
            pos += 8 + unpack(buf, pos)[0]
        if pos > size:
            raise _Truncated
        self.pos = pos
        if count >= _REMEMBER_FROM:
            if len(_STRING_ARRAYS) >= _REMEMBER_AT_MOST:
                _STRING_ARRAYS.pop(next(iter(_STRING_ARRAYS)))
            _STRING_ARRAYS[(count, head)] = bytes(buf[start:pos])

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.take("<I")
            length = self.take("<Q")
            if etype in _SCALARS:
                self.skip(length * struct.calcsize(_SCALARS[etype]))
            elif etype == _STRING:
                self._skip_strings(length)
            else:
                raise ValueError(f"unknown array element type {etype}")
            return ArrayInfo(etype, length)
        raise ValueError(f"unknown value type {vtype}")


def _tensor_bytes(dims: list[int], ggml_type: int) -> int | None:
    sizes = GGML_BLOCK_SIZES.get(ggml_type)
    if sizes is None:
        return None
    block, width = sizes
    count = 1
    for d in dims:
        count *= d
    return (count // block) * width


def read_gguf_header(path: str | os.PathLike[str], label: str | None = None) -> GGUFHeader:
    """Check that `path` is a whole GGUF file and return its metadata; a UsageError says what is wrong."""
    target = Path(path)
    name = label or str(path)
    if not target.exists():
        raise UsageError(f"{name}: no such file")
    if target.is_dir():
        raise UsageError(f"{name}: is a directory, not a GGUF file")
    try:
        fh = target.open("rb")
    except OSError as exc:
        raise UsageError(f"{name}: cannot read: {exc.strerror}") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 4 or fh.read(4) != MAGIC:
            raise UsageError(f"{name}: not a GGUF file (it does not start with the GGUF magic bytes)")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(buf, size, target, name)


def _parse(buf: Any, size: int, target: Path, name: str) -> GGUFHeader:
    reader = _Reader(buf, size)
    reader.pos = 4
    try:
        version = reader.take("<I")
        if version < 2:
            raise UsageError(f"{name}: GGUF version {version} is too old (llama.cpp reads version 2 and later)")
        if version > 3:
            raise UsageError(f"{name}: GGUF version {version} is newer than this reader knows (2 or 3)")
        tensor_count = reader.take("<Q")
        kv_count = reader.take("<Q")
        header = GGUFHeader(target, version, tensor_count)
        for _ in range(kv_count):
            key = reader.string()
            header.metadata[key] = reader.value(reader.take("<I"))
        end_of_data = 0
        known = True
        for _ in range(tensor_count):
            tensor_name = reader.string()
            n_dims = reader.take("<I")
            dims = [reader.take("<Q") for _ in range(n_dims)]
            type_id = reader.take("<I")
            header.tensors.append((tensor_name, tuple(dims), type_id))
            nbytes = _tensor_bytes(dims, type_id)
            offset = reader.take("<Q")
            if nbytes is None:
                known = False
            else:
                end_of_data = max(end_of_data, offset + nbytes)
    except _Truncated:
        raise UsageError(f"{name}: truncated GGUF file: the header runs past the end of the file "
                         f"({size} bytes)") from None
    except (ValueError, struct.error, OverflowError, MemoryError) as exc:
        raise UsageError(f"{name}: malformed GGUF header: {exc}") from None
    alignment = header.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = DEFAULT_ALIGNMENT
    header.data_offset = -(-reader.pos // alignment) * alignment
    if known:
        header.required_size = header.data_offset + end_of_data
        if size < header.required_size:
            raise UsageError(f"{name}: truncated GGUF file: {size} bytes, but its {tensor_count} tensors "
                             f"need {header.required_size}")
    return header
