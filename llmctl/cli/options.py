"""Options shared by every command, defined once so `--json` means the same thing everywhere."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

ModelOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - Typer reads the annotation at run time
    typer.Option("--model", "-m", help="PROVIDER:MODEL or an alias; repeat to compare models.",
                 show_default=False),
]
SingleModelOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--model", "-m", help="PROVIDER:MODEL or an alias (default: $LLMCTL_MODEL, config, embedded).",
                 show_default=False),
]
FileOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--file", "-f", help="Read input from a file (repeatable; - is stdin).", show_default=False),
]
JsonlOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--jsonl", help="One record per line (- is stdin); other fields are carried to the output.",
                 show_default=False),
]
FieldOpt = Annotated[str, typer.Option("--field", help="The JSONL field that holds the text.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON output: one object per input (JSONL).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No usage summary or progress on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Trace what llmctl does on stderr.")]
FormatOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--format", help="Tables as `table` or `tsv` (default: table on a terminal, tsv in a pipe).",
                 show_default=False),
]
