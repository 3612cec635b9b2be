"""The root Typer app: global options and the wiring of one module per command."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from llmctl import __version__
from llmctl.cli import classify, complete, embed, models, ner, prices, run_local, summarize, tokenize
from llmctl.cli.common import GlobalState

app = typer.Typer(
    name="llmctl",
    help="One command line for large language models: tokenize, embed, complete, and more, "
    "with token counts and cost on every call.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: Rich formatting would cost 50 ms of imports per call
    pretty_exceptions_enable=False,  # our own one-line errors; never a traceback with locals (keys)
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    json_mode: Annotated[bool, typer.Option("--json", help="JSON output for every command.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Nothing on stderr but errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Trace requests (keys redacted).")] = False,
    table_format: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--format", help="Tables as `table` or `tsv`.", show_default=False),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    ctx.obj = GlobalState(json_mode=json_mode, quiet=quiet, verbose=verbose, table_format=table_format)


app.command("tokenize")(tokenize.tokenize_command)
app.command("embed")(embed.embed_command)
app.command("complete")(complete.complete_command)
app.command("run-local")(run_local.run_local_command)
app.command("models")(models.models_command)
app.command("prices")(prices.prices_command)
app.command("classify")(classify.classify_command)
app.command("summarize")(summarize.summarize_command)
app.command("ner")(ner.ner_command)


def main() -> None:
    try:
        app(prog_name="llmctl")
    except SystemExit as exc:
        if exc.code == 130:
            # Ctrl-C: what was written is complete; batch workers may still be waiting on the
            # network, and the user asked to stop now, not when their requests time out.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        raise
