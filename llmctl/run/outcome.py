"""What a run came to, chosen once by `Session.perform`: an estimate, one answer, a compare, a batch, a batch job.

A command says what it can show (`Plan`); the session picks the shape from that, the models and
the inputs, runs it, and hands back one of the results below for the command to draw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from llmctl.run.estimate import ModelEstimate
from llmctl.run.runner import Report


class Mode(StrEnum):
    ESTIMATE = "estimate"
    SINGLE = "single"
    COMPARE = "compare"
    BATCH = "batch"
    BATCH_JOB = "batch-job"


@dataclass(frozen=True)
class Plan:
    """What the user asked for and what the command can show, beyond the job and the run options."""

    #: count tokens and cost, send nothing
    estimate: bool = False
    #: send the inputs as one provider batch job, at batch prices
    batch_api: bool = False
    poll_interval: float = 30.0
    #: the input is one text (not a --jsonl file): answered as one, per model
    single: bool = False
    #: several models on the same inputs are one compare (a table), not a stream of records
    compare: bool = False


@dataclass
class Estimated:
    estimates: list[ModelEstimate]
    mode: Mode = Mode.ESTIMATE


@dataclass
class Single:
    """One input, answered by each model: its record by model label (a model that never ran is absent)."""

    records: dict[str, dict[str, Any]]
    report: Report
    mode: Mode = Mode.SINGLE


@dataclass
class Compare:
    """Several models on the same inputs: (input index, record), by input then by model as named."""

    records: list[tuple[int, dict[str, Any]]]
    report: Report
    mode: Mode = Mode.COMPARE


@dataclass
class Batch:
    """Every (model, input) pair's record as it finished; with -o the file has them too."""

    records: list[tuple[int, dict[str, Any]]]
    report: Report
    mode: Mode = Mode.BATCH


@dataclass
class BatchJob:
    """A provider batch job, submitted, waited for and fetched: its records in input order."""

    id: str
    label: str
    records: list[dict[str, Any]] = field(default_factory=list)
    mode: Mode = Mode.BATCH_JOB


Outcome = Estimated | Single | Compare | Batch | BatchJob

__all__ = ["Batch", "BatchJob", "Compare", "Estimated", "Mode", "Outcome", "Plan", "Single"]
