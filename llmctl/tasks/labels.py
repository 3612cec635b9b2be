"""Labels and few-shot examples for classify: read, checked, and turned into prompt text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmctl.core.errors import InputError, UsageError
from llmctl.core.inputs import read_file_text


def parse_labels(given: str | None, *, minimum: int = 2) -> list[str]:
    """Labels from `--labels a,b,c` or `--labels @file` (one a line); at least two, none twice."""
    if given is None:
        raise UsageError("--labels is required: name the labels, e.g. --labels pos,neg (or @labels.txt)")
    if given.startswith("@"):
        raw = read_file_text(given[1:]).splitlines()
    else:
        raw = given.split(",")
    labels = [label.strip() for label in raw if label.strip()]
    if not labels:
        raise UsageError("--labels names no label")
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise UsageError(f"--labels names {label!r} twice")
        seen.add(label)
    if len(labels) < minimum:
        raise UsageError(f"--labels names only {labels[0]!r}; classifying needs at least two labels")
    return labels


@dataclass(frozen=True)
class Example:
    """One worked example for a few-shot prompt: a text and its answer (a label or a list of labels)."""

    text: str
    answer: str | list[str]


def load_examples(path: str, labels: list[str], *, multi_label: bool, text_field: str = "text",
                  label_field: str = "label") -> list[Example]:
    """`--examples` JSONL: `{"text": ..., "label": ...}` (a list for --multi-label); unknown labels refused."""
    text = read_file_text(path)
    known = set(labels)
    found: list[Example] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row: Any = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc})") from None
        if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
            raise InputError(f"{path}:{number}: an example needs a {text_field!r} string")
        value = row.get(label_field, row.get("labels"))
        answer = [value] if isinstance(value, str) else value
        if not isinstance(answer, list) or not all(isinstance(v, str) for v in answer) or not answer:
            raise InputError(f"{path}:{number}: an example needs a {label_field!r} (a label or a list of labels)")
        unknown = [v for v in answer if v not in known]
        if unknown:
            raise InputError(f"{path}:{number}: label {unknown[0]!r} is not one of --labels ({', '.join(labels)})")
        if not multi_label and len(answer) != 1:
            raise InputError(f"{path}:{number}: {len(answer)} labels in a single-label example")
        found.append(Example(row[text_field], answer if multi_label else answer[0]))
    if not found:
        raise InputError(f"{path}: holds no examples")
    return found

