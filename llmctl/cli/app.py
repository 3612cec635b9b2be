"""The root Typer app: global options and the wiring of one module per command."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from llmctl import __version__
from llmctl.cli import (
    batch,
    cache,
    classify,
    complete,
    embed,
    logs,
    models,
    ner,
    plugins,
    prices,
    quantize,
    run_local,
    summarize,
    templates,
    tokenize,
    usage,
)
from llmctl.cli.arguments import HELP_ASKED, LlmctlGroup
from llmctl.cli.common import GlobalState, guarded
from llmctl.cli.completion import accept_click_spelling
from llmctl.cli.options import FormatOpt

app = typer.Typer(
    name="llmctl",
    cls=LlmctlGroup,  # global options after the command name, `-f` lists, defaults in --help
    help="One command line for large language models: tokenize, embed, complete, and more, "
    "with token counts and cost on every call.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: Rich formatting would cost 50 ms of imports per call
    pretty_exceptions_enable=False,  # our own one-line errors; never a traceback with locals (keys)
    pretty_exceptions_show_locals=False,
    add_completion=True,  # --install-completion; models and aliases complete after -m
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
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Nothing on stderr but errors: no summary, progress or warnings.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Trace requests (keys redacted).")] = False,
    table_format: FormatOpt = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    fmt = table_format.value if table_format is not None else None
    ctx.obj = GlobalState(json_mode=json_mode, quiet=quiet, verbose=verbose, table_format=fmt)
    if not ctx.resilient_parsing and not ctx.meta.get(HELP_ASKED):
        from llmctl.providers.registry import check_backend_tables

        # A typo in any profile is exit 3 now, not when that profile is first used.
        guarded(check_backend_tables)()


app.command("tokenize")(tokenize.tokenize_command)
app.command("embed")(embed.embed_command)
app.command("complete")(complete.complete_command)
app.command("run-local")(run_local.run_local_command)
app.command("models")(models.models_command)
app.command("plugins")(plugins.plugins_command)
app.add_typer(prices.prices_app, name="prices")
app.command("usage")(usage.usage_command)
app.add_typer(logs.logs_app, name="logs")
app.add_typer(templates.templates_app, name="templates")
app.add_typer(cache.cache_app, name="cache")
app.add_typer(batch.batch_app, name="batch")
app.command("quantize")(quantize.quantize_command)
app.command("classify")(classify.classify_command)
app.command("summarize")(summarize.summarize_command)
app.command("ner")(ner.ner_command)


def main() -> None:
    accept_click_spelling()
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
