"""`llmctl cache stats|clear`: the response cache of deterministic requests."""

from __future__ import annotations

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt, QuietOpt

cache_app = typer.Typer(help="The response cache: stats, clear.", no_args_is_help=True, add_completion=False)


@cache_app.command("stats")
@guarded
def cache_stats(ctx: typer.Context, json_mode: JsonOpt = False, table_format: FormatOpt = None) -> None:
    """Entries and size of the cache, per model."""
    from llmctl.run.cache import ResponseCache

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    cache = ResponseCache()
    try:
        stats = cache.stats()
    finally:
        cache.close()
    if out.json_mode:
        out.record(stats)
        return
    rows = [[m["model"], m["entries"], m["bytes"]] for m in stats["models"]]
    out.table(["model", "entries", "bytes"], rows, right_align=("entries", "bytes"))
    out.info(f"{stats['entries']} entries, {stats['bytes']:,} of {stats['max_bytes']:,} bytes in {stats['path']}")


@cache_app.command("clear")
@guarded
def cache_clear(ctx: typer.Context, quiet: QuietOpt = False) -> None:
    """Remove every cached response."""
    from llmctl.run.cache import ResponseCache

    out = make_output(ctx, quiet=quiet)
    cache = ResponseCache()
    try:
        removed = cache.clear()
    finally:
        cache.close()
    out.info(f"removed {removed} cached response{'s' if removed != 1 else ''}")
