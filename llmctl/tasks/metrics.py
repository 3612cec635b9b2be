"""Scoring answers against gold: classification (accuracy, macro-F1, per label, confusion) and NER spans."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

#: the row and column of the confusion matrix for a record that failed (no prediction)
NO_ANSWER = "(none)"


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}


def classification_metrics(gold: Sequence[str | list[str]], predicted: Sequence[str | list[str] | None],
                           labels: Sequence[str], *, closed: bool = False) -> dict[str, Any]:
    """Accuracy (exact match), macro-F1 over `labels`, per-label P/R/F1, and (single-label) the confusion
    matrix with gold labels as rows. A failed record (None) is an answer that matches nothing.

    `closed`: `labels` are every answer the model was offered (--labels). A record whose gold names
    another label cannot be answered right: it is left out of every figure and counted per label in
    `gold_outside_labels` (`scored` is the number of records the figures cover).
    """
    outside: Counter[str] = Counter()
    if closed:
        known = set(labels)
        kept = []
        for g, p in zip(gold, predicted, strict=True):
            strays = [x for x in (g if isinstance(g, list) else [g]) if x not in known]
            outside.update(str(x) for x in strays)
            if not strays:
                kept.append((g, p))
        scored_gold, scored_pred = [g for g, _ in kept], [p for _, p in kept]
    else:
        scored_gold, scored_pred = list(gold), list(predicted)
    result = _scored(scored_gold, scored_pred, labels)
    result["records"] = len(gold)
    if closed:
        result["scored"] = len(scored_gold)
        result["gold_outside_labels"] = dict(outside)
    return result


def _scored(gold: Sequence[str | list[str]], predicted: Sequence[str | list[str] | None],
            labels: Sequence[str]) -> dict[str, Any]:
    multi = any(isinstance(g, list) for g in gold)
    gold_sets = [set(g) if isinstance(g, list) else {g} for g in gold]
    pred_sets = [set() if p is None else set(p) if isinstance(p, list) else {p} for p in predicted]
    every = list(dict.fromkeys([*labels, *sorted({x for s in gold_sets for x in s} - set(labels))]))
    per_label = {}
    for label in every:
        tp = sum(1 for g, p in zip(gold_sets, pred_sets, strict=True) if label in g and label in p)
        fp = sum(1 for g, p in zip(gold_sets, pred_sets, strict=True) if label not in g and label in p)
        fn = sum(1 for g, p in zip(gold_sets, pred_sets, strict=True) if label in g and label not in p)
        per_label[label] = _prf(tp, fp, fn)
    correct = sum(1 for g, p in zip(gold_sets, pred_sets, strict=True) if g == p)
    result: dict[str, Any] = {
        "records": len(gold),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "macro_f1": round(sum(v["f1"] for v in per_label.values()) / len(per_label), 4) if per_label else 0.0,
        "per_label": per_label,
    }
    if not multi:
        columns = [*every, NO_ANSWER] if any(p is None for p in predicted) else every
        counts = Counter((str(g), NO_ANSWER if p is None else str(p)) for g, p in zip(gold, predicted, strict=True))
        result["confusion"] = {"labels": columns,
                               "matrix": [[counts[(row, col)] for col in columns] for row in every]}
    return result


def _span_key(entity: dict[str, Any]) -> tuple[int, int, str]:
    return int(entity["start"]), int(entity["end"]), str(entity["type"])


def ner_metrics(gold: Sequence[list[dict[str, Any]]], predicted: Sequence[list[dict[str, Any]] | None]
                ) -> dict[str, Any]:
    """Entity-level precision/recall/F1 (CoNLL: an entity counts only with exact start, end and type),
    micro over all entities and per type. A failed record predicts no entity."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for gold_entities, found in zip(gold, predicted, strict=True):
        g = {_span_key(e) for e in gold_entities}
        p = {_span_key(e) for e in found or []}
        for key in g & p:
            tp[key[2]] += 1
        for key in p - g:
            fp[key[2]] += 1
        for key in g - p:
            fn[key[2]] += 1
    types = sorted(set(tp) | set(fp) | set(fn))
    overall = _prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    return {"records": len(gold), **overall, "per_type": {t: _prf(tp[t], fp[t], fn[t]) for t in types}}


def cost_metrics(costs: Sequence[Decimal | None], latencies: Sequence[float | None], local: bool
                 ) -> dict[str, Any]:
    """Total cost, cost per 1,000 records and mean latency; unknown when any record's price is unknown."""
    known = [c for c in costs if c is not None]
    total: Decimal | None = sum(known, Decimal(0)) if len(known) == len(costs) else None
    per_1000 = total * 1000 / len(costs) if total is not None and costs else None
    timed = [t for t in latencies if t is not None]
    return {
        "cost": _number(total),
        "cost_per_1000": _number(per_1000),
        "local": local,
        "mean_latency_ms": round(sum(timed) / len(timed), 1) if timed else None,
    }


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(round(value, 10))
