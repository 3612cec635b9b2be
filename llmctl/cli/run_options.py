"""Options of the run layer, shared by every command that sends inputs to models."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

ModelsFileOpt = Annotated[
    Optional[str],  # noqa: UP045 - Typer reads the annotation at run time
    typer.Option("--models-file", help="Models to compare, one name a line (# starts a comment).",
                 show_default=False),
]
EstimateOpt = Annotated[bool, typer.Option(
    "--estimate", help="Count tokens and cost without sending anything (no network, no key).")]
OutputFileOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--output", "-o", help="Append each finished record to this JSONL file.", show_default=False),
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Skip inputs already in the -o file; send the rest.")]
DedupeOpt = Annotated[bool, typer.Option(
    "--dedupe", help="--jsonl records that share an `id`: keep the first of each (default: exit 2 naming them).")]
RetryFailedOpt = Annotated[bool, typer.Option(
    "--retry-failed", help="With -o: send again only the records whose `error` is set.")]
OrderedOpt = Annotated[
    Optional[bool],  # noqa: UP045
    typer.Option("--ordered/--unordered", help="Records in input order (default; with -o: as they finish).",
                 show_default=False),
]
MaxCostOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--max-cost", help="Spend at most this many USD; stop before a request that could cross it.",
                 show_default=False),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor store cached responses.")]
BatchApiOpt = Annotated[bool, typer.Option(
    "--batch-api", help="Send a --jsonl job through the provider's batch endpoint, at batch prices.")]
PollIntervalOpt = Annotated[float, typer.Option("--poll-interval", help="Seconds between batch status checks.")]
