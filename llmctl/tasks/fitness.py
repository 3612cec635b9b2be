"""What the embedded model was measured to do on each task, and the one warning where it falls short.

The figures come from `benchmarks/bench_tasks.py --only quality` on the labelled sets in
`benchmarks/task_sets/` (the README's "Tasks on the default model" quotes the full run). They are
kept per model file, so a user's own model is never judged by another model's figures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import PurePath

from llmctl.providers.base import ModelRef, Provider

#: where MEASURED comes from
SOURCE = "benchmarks/bench_tasks.py --only quality, 2026-12-06"


@dataclass(frozen=True)
class Measured:
    """A task the model does poorly: the measured figure, and what to use instead."""

    figure: str
    instead: str


#: (model file name, task) -> what the benchmark measured where the model falls short
MEASURED: dict[tuple[str, str], Measured] = {
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "classify"): Measured(
        "by label scores it gets 20 of 24 two-label sentiment texts right but 6 of 24 four-topic texts "
        "(chance: it answers one topic for all)",
        "a larger model (-m openai:gpt-4o-mini) or an NLI model for zero-shot labels (-m hf:facebook/bart-large-mnli)"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "summarize"): Measured(
        "on 20 paragraphs with --max-words 20, 3 of its answers kept to the limit and 11 were cut by the "
        "token cap; ROUGE-1 F 0.30 against 0.40 for the text's lead sentences, which the record falls back to",
        "a larger model (-m openai:gpt-4o-mini, or an HF summariser such as -m hf:facebook/bart-large-cnn)"),
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "ner"): Measured(
        "entity F1 0.03 on 26 sentences (245 entities named, 25 of them in the text, 7 of 55 at a right span)",
        "an HF token-classification model (-m hf:dslim/bert-base-NER) or a larger model (-m openai:gpt-4o-mini)"),
}

_said: set[tuple[int, str]] = set()
_lock = threading.Lock()


def warn_once(provider: Provider, message: str) -> None:
    """Queue `message` on the provider the first time only (a batch would repeat it per record)."""
    with _lock:
        key = (id(provider), message)
        if key in _said:
            return
        _said.add(key)
    provider.warn(message)


def measured(ref: ModelRef, task: str) -> Measured | None:
    return MEASURED.get((PurePath(ref.model).name, task))


def warn_unfit(provider: Provider, ref: ModelRef, task: str) -> None:
    """Say once, with the measured figure, that this model does `task` poorly and what to use instead."""
    found = measured(ref, task)
    if found is not None:
        warn_once(provider, f"{ref.label} does {task} poorly: {found.figure} [{SOURCE}]; "
                            f"for better results use {found.instead}")
