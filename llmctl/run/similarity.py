"""Cosine similarity of a model's vectors, for `embed --similarity`."""

from __future__ import annotations

import math
from collections.abc import Sequence


def cosine_matrix(vectors: Sequence[Sequence[float]]) -> list[list[float]]:
    norms = [math.sqrt(math.fsum(x * x for x in v)) for v in vectors]
    matrix: list[list[float]] = []
    for i, a in enumerate(vectors):
        row = []
        for j, b in enumerate(vectors):
            denom = norms[i] * norms[j]
            row.append(math.fsum(x * y for x, y in zip(a, b, strict=True)) / denom if denom else 0.0)
        matrix.append(row)
    return matrix
