"""`llmctl usage`: what was spent, from the local usage log, by day, provider, model or command."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt, QuietOpt


@guarded
def usage_command(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="Group by day, provider, model or command.")] = "day",
    since: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--since", help="From this day on (YYYY-MM-DD, UTC).", show_default=False)] = None,
    until: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--until", help="Up to and including this day (YYYY-MM-DD, UTC).", show_default=False)] = None,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    table_format: FormatOpt = None,
) -> None:
    """Spend and tokens from the usage log ($XDG_DATA_HOME/llmctl/usage.db).

    \b
      llmctl usage
      llmctl usage --since 2026-11-01 --by model --json
    """
    from llmctl.core.usage import format_money
    from llmctl.run.usage_log import summarize, usage_db_path

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, table_format=table_format)
    rows = summarize(by, since, until)
    if out.json_mode:
        for row in rows:
            out.record(row.to_json(by))
        return
    table = [[r.key, r.calls, r.errors, r.cache_hits, r.input_tokens, r.output_tokens,
              "unpriced" if r.cost is None else format_money(r.cost) + (f" (+{r.unpriced} unpriced)" if r.unpriced
                                                                         else "")] for r in rows]
    out.table([by, "calls", "errors", "cache_hits", "input_tokens", "output_tokens", "cost"], table,
              right_align=("calls", "errors", "cache_hits", "input_tokens", "output_tokens", "cost"))
    if not rows:
        out.info(f"no calls logged in {usage_db_path()}")
