"""`llmctl prices`: the price table, where each price comes from, which are getting old; `prices update`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt

prices_app = typer.Typer(help="Show API prices, or update them from a maintained list.", no_args_is_help=False)


def _text(value: object) -> str:
    return "" if value is None else str(value)


@prices_app.callback(invoke_without_command=True)
@guarded
def prices_command(ctx: typer.Context, json_mode: JsonOpt = False, table_format: FormatOpt = None) -> None:
    """Show API prices per 1M tokens, with as_of and source; warn about entries older than 180 days."""
    if ctx.invoked_subcommand is not None:
        return
    from llmctl.core.config import get_config
    from llmctl.core.pricing import STALE_AFTER_DAYS, PriceTable

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    entries = PriceTable(get_config()).entries()
    stale = [e for e in entries if e.is_stale()]
    rows = []
    for e in entries:
        record = {
            "model": f"{e.provider}:{e.model}",
            "input": _text(e.input) or None,
            "cached_input": _text(e.cached_input) or None,
            "output": _text(e.output) or None,
            "batch_input": _text(e.batch_input) or None,
            "batch_output": _text(e.batch_output) or None,
            "currency": e.currency,
            "per_tokens": 1_000_000,
            "as_of": e.as_of,
            "age_days": e.age_days(),
            "stale": e.is_stale(),
            "source": e.source,
        }
        if out.json_mode:
            out.record(record)
        else:
            rows.append([record["model"], _text(e.input), _text(e.cached_input), _text(e.output),
                         _text(e.batch_input), _text(e.batch_output), e.as_of, e.source])
    if not out.json_mode:
        out.table(["model", "input", "cached_input", "output", "batch_input", "batch_output", "as_of", "source"],
                  rows, right_align=("input", "cached_input", "output", "batch_input", "batch_output"))
    if stale:
        oldest = max((e.age_days() or 0) for e in stale)
        out.warn(f"{len(stale)} of {len(entries)} prices are older than {STALE_AFTER_DAYS} days "
                 f"(oldest {oldest} days); check the sources and override them in the user config")


@prices_app.command("update")
@guarded
def prices_update_command(
    ctx: typer.Context,
    source: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--from", help="A URL or file in LiteLLM's model_prices_and_context_window.json format "
        "(default: LiteLLM's own list).", show_default=False)] = None,
    from_package: Annotated[bool, typer.Option(
        "--from-package", help="Take the list a litellm release carries: from the WHEEL given "
        "(pip download litellm --no-deps), else from the installed litellm package; dated as the release is.")
    ] = False,
    wheel: Annotated[Optional[str], typer.Argument(  # noqa: UP045
        metavar="[WHEEL]", help="A litellm wheel file, with --from-package.", show_default=False)] = None,
    json_mode: JsonOpt = False,
) -> None:
    """Fetch current prices into the user data folder; your own [prices] entries stay as they are."""
    from llmctl.core.config import get_config
    from llmctl.core.errors import UsageError
    from llmctl.core.price_list import DEFAULT_URL, fetched_path, update, update_from_package

    out = make_output(ctx, json_mode=json_mode)
    if wheel is not None and not from_package:
        raise UsageError(f"a wheel ({wheel}) is read with --from-package; a list file is --from FILE")
    if source is not None and from_package:
        raise UsageError("--from and --from-package both name a list; give one")
    config = get_config()
    if from_package:
        fresh, found = update_from_package(wheel, config.user_prices)
    else:
        fresh, found = update(source or DEFAULT_URL, config.user_prices)
    for change in found:
        if out.json_mode:
            out.record(change.to_json())
            continue
        detail = ", ".join(f"{name} {old or '-'} -> {new or '-'}" for name, (old, new) in change.fields.items())
        kept = " (your own entry is kept)" if change.user_kept else ""
        out.line(f"{change.model}\t{change.kind}\t{detail}{kept}")
    count = sum(len(t) for t in fresh.entries.values())
    out.info(f"{count} prices from {fresh.source} ({len(found)} changed) saved to {fetched_path()}")
