"""Reading an importance matrix (llama-imatrix's GGUF or legacy .dat file) into per-tensor means.

What llama.cpp's quantizer wants for each weight tensor is the mean square of the activations
that meet each of its input columns. The GGUF form stores `<tensor>.in_sum2` (sums of squares,
one row per expert) and `<tensor>.counts` (how many activations were summed, per expert); the
legacy form stores, per tensor, the number of calls and values already scaled by it.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from llmctl.core.errors import UsageError


def load_imatrix(path: str | Path) -> dict[str, Any]:
    """Tensor name -> float32 numpy array of mean squared activations; a UsageError if unreadable."""
    target = Path(path)
    if not target.is_file():
        raise UsageError(f"{path}: no such importance matrix file")
    with target.open("rb") as fh:
        magic = fh.read(4)
    entries = _from_gguf(target) if magic == b"GGUF" else _from_legacy(target)
    if not entries:
        raise UsageError(f"{path}: the importance matrix holds no tensors")
    return entries


def _from_gguf(path: Path) -> dict[str, Any]:
    import numpy as np
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except Exception as exc:
        raise UsageError(f"{path}: unreadable importance matrix: {exc}") from None
    sums = {t.name[: -len(".in_sum2")]: t for t in reader.tensors if t.name.endswith(".in_sum2")}
    counts = {t.name[: -len(".counts")]: t for t in reader.tensors if t.name.endswith(".counts")}
    entries: dict[str, Any] = {}
    for name, tensor in sums.items():
        if name not in counts:
            raise UsageError(f"{path}: {name}.in_sum2 has no {name}.counts beside it")
        per_expert = np.asarray(counts[name].data, dtype=np.float32).reshape(-1)
        values = np.asarray(tensor.data, dtype=np.float32).reshape(len(per_expert), -1)
        # An expert that never saw a token gets ones: no column is preferred over another.
        safe = np.where(per_expert > 0, per_expert, 1.0)[:, None]
        means = np.where(per_expert[:, None] > 0, values / safe, 1.0)
        entries[name] = np.ascontiguousarray(means.reshape(-1), dtype=np.float32)
    return entries


def _from_legacy(path: Path) -> dict[str, Any]:
    import numpy as np

    data = path.read_bytes()
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        width = struct.calcsize(fmt)
        if pos + width > len(data):
            raise UsageError(f"{path}: truncated importance matrix")
        (value,) = struct.unpack_from(fmt, data, pos)
        pos += width
        return value

    count = take("<i")
    if count <= 0 or count > 1_000_000:
        raise UsageError(f"{path}: not an importance matrix (it says it holds {count} entries)")
    entries: dict[str, Any] = {}
    for _ in range(count):
        length = take("<i")
        if length <= 0 or pos + length > len(data):
            raise UsageError(f"{path}: truncated importance matrix")
        name = data[pos:pos + length].decode("utf-8", errors="replace")
        pos += length
        calls = take("<i")
        size = take("<i")
        if size <= 0 or pos + 4 * size > len(data):
            raise UsageError(f"{path}: truncated importance matrix")
        values = np.frombuffer(data, dtype="<f4", count=size, offset=pos).astype(np.float32)
        pos += 4 * size
        entries[name] = values / calls if calls > 0 else values.copy()
    return entries
