"""`llmctl plugins`: the installed provider plugins, built in or not, and what each adds."""

from __future__ import annotations

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt

COLUMNS = ["name", "builtin", "local", "distribution", "version", "module", "prefixes", "models"]
#: models shown by name in the table; --json lists them all
SHOWN_MODELS = 3


def _models_text(models: list[str]) -> str:
    if len(models) <= SHOWN_MODELS:
        return ", ".join(models)
    return ", ".join(models[:SHOWN_MODELS]) + f" (+{len(models) - SHOWN_MODELS} more)"


@guarded
def plugins_command(ctx: typer.Context, json_mode: JsonOpt = False, table_format: FormatOpt = None) -> None:
    """List provider plugins (entry point group `llmctl.providers`): name, module, distribution, version,
    built in or not, and the prefixes and models each adds.

    \b
    A plugin that fails to load is named in one warning line; the others are listed.
    Two plugins claiming one provider name: exit 3 naming both.
      llmctl plugins
      llmctl plugins --json | jq -r '.name'
    """
    from llmctl.providers.plugins import installed

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    rows, warnings = installed()
    for message in warnings:
        out.warn(message)
    if out.json_mode:
        for row in rows:
            out.record(row.to_json())
        return
    table = []
    for row in rows:
        local = "" if row.local is None else "yes" if row.local else "no"
        table.append([row.name, "yes" if row.builtin else "no", local, row.distribution, row.version,
                      row.module if row.error is None else f"{row.module} (failed to load)",
                      ", ".join(row.prefixes), _models_text(row.models)])
    out.table(COLUMNS, table)
