"""`llmctl logs`: the stored exchanges (newest first), searched, filtered, as JSON or Markdown; `logs rm`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt

logs_app = typer.Typer(help="Stored prompts and answers: list, search, show a conversation, remove.",
                       invoke_without_command=True, add_completion=False)

CidFilterOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--cid", help="One conversation, oldest turn first.", show_default=False, metavar="ID")]


def _first_line(text: str | None, width: int = 60) -> str:
    if text is None:
        return "(text not stored)"
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[:width - 1] + "…"


@logs_app.callback()
@guarded
def logs_command(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("-n", "--count", help="How many, newest first (0: all).")] = 10,
    query: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "-q", "--query", help="Full-text search of prompts and answers: every word must appear.",
        show_default=False, metavar="WORDS")] = None,
    model: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--model", "-m", help="Only this model (provider:model, or the model's name).", show_default=False)] = None,
    since: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--since", help="From this day on (YYYY-MM-DD, UTC).", show_default=False)] = None,
    until: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--until", help="Up to and including this day (YYYY-MM-DD, UTC).", show_default=False)] = None,
    cid: CidFilterOpt = None,
    conversations: Annotated[bool, typer.Option(
        "--conversations", help="One line per conversation: turns, models, tokens, total cost.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="The exchanges as a Markdown document.")] = False,
    json_mode: JsonOpt = False,
    table_format: FormatOpt = None,
) -> None:
    """Stored exchanges of `complete` and `run-local`, newest first (from the usage log's database).

    \b
      llmctl logs
      llmctl logs -q rivers --since 2026-12-01 --json
      llmctl logs --cid 01JF... --markdown > talk.md
      llmctl logs --conversations
      llmctl logs rm --before 2026-01-01
    """
    if ctx.invoked_subcommand is not None:
        return
    from llmctl.core.errors import UsageError
    from llmctl.core.usage import format_money
    from llmctl.run.log_query import LogQuery, as_markdown, find_exchanges, list_conversations

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    if count < 0:
        raise UsageError(f"-n must be 0 (all) or more, not {count}")
    if conversations and markdown:
        raise UsageError("--conversations lists conversations; --markdown writes exchanges: give one")
    filters = LogQuery(count, query, model, since, until, cid)
    if conversations:
        found = list_conversations(filters)
        if out.json_mode:
            for row in found:
                out.record(row.to_json())
            return
        out.table(["conversation", "last", "turns", "models", "tokens", "cost", "first prompt"],
                  [[r.id, r.last[:19].replace("T", " "), r.turns, ", ".join(r.models),
                    f"{r.input_tokens + r.output_tokens:,}", "unpriced" if r.cost is None else format_money(r.cost),
                    _first_line(r.name, 40)] for r in found], right_align=("turns", "tokens", "cost"))
        return
    rows = find_exchanges(filters)
    if cid and not rows and not (query or model or since or until):
        raise UsageError(f"--cid {cid}: no such conversation (`llmctl logs --conversations` lists them)")
    if out.json_mode:
        for exchange in rows:
            out.record(exchange.to_json())
    elif markdown:
        out.write(as_markdown(rows, f"Conversation {cid.upper()}" if cid else "llmctl logs"))
    else:
        out.table(["at", "model", "tokens", "cost", "conversation", "prompt"],
                  [[r.at[:19].replace("T", " "), r.model, f"{r.input_tokens:,} + {r.output_tokens:,}",
                    "unpriced" if r.cost is None else format_money(r.cost), r.conversation, _first_line(r.prompt)]
                   for r in rows], right_align=("tokens", "cost"))
    if not rows and not out.json_mode:
        from llmctl.run.store import usage_db_path

        out.info(f"no stored exchanges match in {usage_db_path()}")


@logs_app.command("rm")
@guarded
def logs_rm(
    ctx: typer.Context,
    cid: CidFilterOpt = None,
    before: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--before", help="Every exchange before this day (YYYY-MM-DD, UTC).", show_default=False)] = None,
) -> None:
    """Remove stored exchanges (a conversation, or everything before a day); their costs stay in `llmctl usage`."""
    from llmctl.core.output import plural
    from llmctl.run.log_query import delete

    out = make_output(ctx)
    exchanges, conversations = delete(cid, before)
    out.info(f"removed {plural(exchanges, 'exchange')} ({plural(conversations, 'conversation')} gone whole)")
