"""The work behind `llmctl embed`: one provider call for all inputs, then vectors or a matrix."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from llmctl.cli.backend import cost_of, open_model, show_warnings, summary_line, warn_unknown_price
from llmctl.core.errors import ProviderError
from llmctl.core.inputs import InputItem, collect_inputs
from llmctl.core.output import Output, plural
from llmctl.providers.base import EmbeddingRequest


def read_texts(texts: Sequence[str] | None, files: Sequence[str] | None, jsonl: str | None,
               field: str) -> list[InputItem]:
    return collect_inputs(texts, files, jsonl, field)


def cosine_matrix(vectors: Sequence[Sequence[float]]) -> list[list[float]]:
    norms = [math.sqrt(sum(x * x for x in v)) for v in vectors]
    matrix: list[list[float]] = []
    for i, a in enumerate(vectors):
        row = []
        for j, b in enumerate(vectors):
            denom = norms[i] * norms[j]
            row.append(sum(x * y for x, y in zip(a, b, strict=True)) / denom if denom else 0.0)
        matrix.append(row)
    return matrix


def _label(item: InputItem, width: int = 40) -> str:
    text = " ".join(item.text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def embed_items(out: Output, name: str | None, items: list[InputItem], options: dict[str, Any],
                base_url: str | None, *, dimensions: int | None, normalize: bool, similarity: bool) -> None:
    ref, provider = open_model(out, name, "embed", options, base_url)
    started = time.perf_counter()
    result = provider.embed(ref, EmbeddingRequest([i.text for i in items], dimensions, normalize))
    seconds = time.perf_counter() - started
    show_warnings(out, provider)
    if len(result.vectors) != len(items):
        raise ProviderError(f"{ref.label} returned {len(result.vectors)} vectors for {len(items)} inputs")
    cost = cost_of(ref, provider, result.usage)
    if similarity:
        matrix = cosine_matrix(result.vectors)
        if out.json_mode:
            out.record({"model": ref.label, "texts": [i.text for i in items], "matrix": matrix,
                        "usage": result.usage.to_json(), "cost": cost.to_json(),
                        "latency_ms": round(seconds * 1000, 1)})
        else:
            labels = [_label(i) for i in items]
            rows = [[labels[r], *(f"{v:.4f}" for v in matrix[r])] for r in range(len(items))]
            out.table(["text", *[str(n) for n in range(1, len(items) + 1)]], rows,
                      right_align=[str(n) for n in range(1, len(items) + 1)])
    else:
        single = len(items) == 1
        for index, (item, vector) in enumerate(zip(items, result.vectors, strict=True)):
            record: dict[str, Any] = {**item.fields, "model": ref.label, "index": index,
                                      "dimensions": len(vector), "embedding": vector}
            if single:
                record.update(usage=result.usage.to_json(), cost=cost.to_json(),
                              latency_ms=round(seconds * 1000, 1))
            out.record(record)
    warn_unknown_price(out, ref, cost)
    vectors = plural(len(items), "vector")
    out.summary(f"{summary_line(ref, result.usage, cost, seconds)} · {vectors}")
