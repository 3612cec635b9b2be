"""--gold: the right answers of a --jsonl batch, and each model's metrics over the records a run wrote.

The gold answer moves out of the carried input fields into a `gold` object keyed by its field name
(`"gold": {"label": "pos"}`): a result field of the same name (`label`) would otherwise overwrite it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from llmctl.core.errors import InputError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.tasks.metrics import cost_metrics

#: the record key that holds the gold answer, as {FIELD: value}
GOLD_KEY = "gold"
#: (gold answers, each record or None where it failed or is missing) -> the task's metrics
Scorer = Callable[[list[Any], list[dict[str, Any] | None]], dict[str, Any]]


def gold_values(items: Sequence[InputItem], name: str, jsonl: str | None) -> list[Any]:
    """The gold answers of a --jsonl batch; records that lack the field are named by line."""
    if jsonl is None:
        raise UsageError("--gold needs a --jsonl batch whose records hold the gold answers")
    missing = [item.line for item in items if item.fields.get(name) is None]
    if missing:
        lines = ", ".join(str(n) for n in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(f"--gold {name}: {len(missing)} of {len(items)} records in {items[0].source} lack it "
                         f"(line{'s' if len(missing) > 1 else ''} {lines})")
    return [item.fields[name] for item in items]


def with_gold(items: Sequence[InputItem], name: str) -> list[InputItem]:
    """The items with the gold field `name` carried as `gold: {name: value}` instead of beside the result."""
    clash = next((item for item in items if name != GOLD_KEY and GOLD_KEY in item.fields), None)
    if clash is not None:
        raise InputError(f"{clash.source}:{clash.line}: --gold {name}: the record already has a field "
                         f"{GOLD_KEY!r}, where the output keeps the gold answer; rename one of them")
    moved = []
    for item in items:
        fields = {key: value for key, value in item.fields.items() if key != name}
        if name in item.fields:
            fields[GOLD_KEY] = {name: item.fields[name]}
        moved.append(dataclasses.replace(item, fields=fields))
    return moved


def labels_outside(gold: Sequence[Any], labels: Sequence[str]) -> Counter[str]:
    """Gold labels that are not among `labels`, with how many records name each."""
    known = set(labels)
    found: Counter[str] = Counter()
    for value in gold:
        for label in value if isinstance(value, list) else [value]:
            if label not in known:
                found[str(label)] += 1
    return found


def outside_warning(name: str, outside: Counter[str], labels: Sequence[str]) -> str:
    """The one warning for gold labels a model was never offered (it cannot answer them)."""
    listed = ", ".join(f"{label!r} ({count} record{'s' if count != 1 else ''})" for label, count in outside.items())
    return (f"--gold {name}: gold label{'s' if len(outside) > 1 else ''} {listed} not among --labels "
            f"({', '.join(labels)}); those records are counted apart (gold_outside_labels), "
            "not in accuracy or macro-F1")


def model_metrics(label: str, local: bool, gold: list[Any], records: Sequence[tuple[int, dict[str, Any]]],
                  score: Scorer) -> dict[str, Any]:
    """One model's metrics over its records of the run (`(input index, record)` pairs, any model's).

    A failed record counts as a wrong answer; an input with no record is left out.
    """
    mine = {index: record for index, record in records if record.get("model") == label}
    indexes = sorted(mine)
    answered = [mine[i] if mine[i].get("error") is None else None for i in indexes]
    metrics = score([gold[i] for i in indexes], answered)
    costs: list[Decimal | None] = []
    for i in indexes:
        cost = mine[i].get("cost") or {}
        costs.append(Decimal(str(cost["total"])) if cost.get("total") is not None else None)
    metrics.update(cost_metrics(costs, [mine[i].get("latency_ms") for i in indexes], local))
    return metrics


def records_in_file(path: str, items: Sequence[InputItem]) -> list[tuple[int, dict[str, Any]]]:
    """Every record an -o file holds for these inputs, as `(input index, record)`: with --resume the
    metrics then cover the whole batch, not only what the last run sent (a record written later wins)."""
    import json
    from pathlib import Path

    from llmctl.run.outfile import input_key

    index_of = {input_key(item, index): index for index, item in enumerate(items)}
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for raw in Path(path).expanduser().read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # a torn last line: not a record
        if not isinstance(record, dict) or "model" not in record:
            continue
        if "id" in record:
            key = "id:" + json.dumps(record["id"], sort_keys=True)
        elif isinstance(record.get("line"), int):
            key = f"line:{record['line']}"
        else:
            continue
        if key in index_of:
            found[(record["model"], index_of[key])] = record
    return [(index, record) for (_, index), record in sorted(found.items(), key=lambda pair: pair[0][1])]
