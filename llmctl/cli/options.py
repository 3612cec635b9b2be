"""Options shared by every command, defined once so `--json` means the same thing everywhere."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Optional

import typer

from llmctl.cli.completion import complete_model_name

ModelOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - Typer reads the annotation at run time
    typer.Option("--model", "-m", help="PROVIDER:MODEL or an alias; repeat to compare models.",
                 show_default=False, autocompletion=complete_model_name),
]
SingleModelOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--model", "-m", help="PROVIDER:MODEL or an alias (default: $LLMCTL_MODEL, config, embedded).",
                 show_default=False, autocompletion=complete_model_name),
]
FileOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--file", "-f", help="Read input from files: -f takes every path after it (-f docs/*.md) up to "
                 "the next option; - is stdin.", show_default=False),
]
JsonlOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--jsonl", help="One record per line (- is stdin); other fields are carried to the output.",
                 show_default=False),
]
#: the text argument of every task (classify, summarize, ner)
TaskTextArg = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Argument(help="The text (words are joined); else stdin, -f or --jsonl.", show_default=False),
]
FieldOpt = Annotated[str, typer.Option("--field", help="The JSONL field that holds the text.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON output: one object per input (JSONL).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Nothing on stderr but errors: no summary, "
                                                               "progress or warnings.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Trace what llmctl does on stderr.")]


class TableFormat(StrEnum):
    table = "table"
    tsv = "tsv"


FormatOpt = Annotated[
    Optional[TableFormat],  # noqa: UP045
    typer.Option("--format", help="Tables as `table` or `tsv` (default: table on a terminal, tsv in a pipe).",
                 show_default=False),
]

# Backend options, shared by complete, embed and run-local.
BaseUrlOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--base-url", help="Send requests to this OpenAI-compatible endpoint.", show_default=False),
]
TimeoutOpt = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option("--timeout", help="Seconds to wait for each request (default 120).", show_default=False),
]
MaxRetriesOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--max-retries", help="Retries on 429, 5xx and connection errors (default 3).",
                 show_default=False),
]
ConcurrencyOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--concurrency", help="Requests in flight at once for batches.", show_default=False),
]
MaxWaitOpt = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option("--max-wait", help="Longest Retry-After to wait, in seconds (default 60); a longer one "
                 "ends with exit 4 and the time to come back.", show_default=False),
]
RetryTimeoutsOpt = Annotated[
    bool, typer.Option("--retry-timeouts", help="Send a request the server accepted again after it timed "
                       "out or was dropped: a generation, embeddings (it may be billed twice); never a batch creation.")
]
NCtxOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--n-ctx", help="Context window for a local GGUF model.", show_default=False),
]
ThreadsOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--threads", help="CPU threads for a local model.", show_default=False),
]
NGpuLayersOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--n-gpu-layers", help="Layers of a GGUF model to put on the GPU (-1: all).", show_default=False),
]
DeviceOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--device", help="Device for an HF model: cpu, cuda, cuda:N or auto.", show_default=False),
]
AllowPickleOpt = Annotated[
    bool, typer.Option("--allow-pickle", help="Allow loading pickle (.bin) HF weights; they can run code.")
]
TrustRemoteCodeOpt = Annotated[
    bool, typer.Option("--trust-remote-code", help="Allow an HF model's own Python code to run.")
]
