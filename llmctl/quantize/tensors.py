"""A GGUF file's tensor table (name, shape, type, bytes), read without loading a tensor."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from llmctl.providers.gguf.file import GGUFHeader, read_gguf_header
from llmctl.quantize.types import FLOAT_TYPES, GGML_TYPES, ggml_type_name


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type_id: int

    @property
    def elements(self) -> int:
        count = 1
        for d in self.shape:
            count *= d
        return count

    @property
    def nbytes(self) -> int:
        _, block, width = GGML_TYPES.get(self.type_id, ("", 1, 0))
        return self.elements // block * width

    @property
    def type_name(self) -> str:
        return ggml_type_name(self.type_id)


@dataclass
class TensorTable:
    header: GGUFHeader
    tensors: list[TensorInfo]
    file_size: int

    @property
    def weights(self) -> int:
        return sum(t.elements for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        """Bits per weight of the tensor data alone (metadata and vocabulary left out)."""
        return self.tensor_bytes * 8 / max(self.weights, 1)

    def type_counts(self) -> Counter[str]:
        return Counter(t.type_name for t in self.tensors)

    def quantized_tensors(self) -> list[TensorInfo]:
        return [t for t in self.tensors if t.type_id not in FLOAT_TYPES]


def read_tensor_table(path: str | os.PathLike[str]) -> TensorTable:
    """The header checked by the provider's reader (truncation, magic, version), with every tensor."""
    header = read_gguf_header(path)
    tensors = [TensorInfo(name, shape, type_id) for name, shape, type_id in header.tensors]
    return TensorTable(header, tensors, os.stat(path).st_size)
