"""`llmctl models`: the known models and aliases, with window, prices and capabilities."""

from __future__ import annotations

from typing import Any

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt


@guarded
def models_command(ctx: typer.Context, json_mode: JsonOpt = False, table_format: FormatOpt = None) -> None:
    """List known models and aliases: provider, context window, prices, what each can do."""
    from llmctl.core.config import get_config
    from llmctl.core.pricing import PriceTable

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    config = get_config()
    prices = PriceTable(config)
    rows: list[list[Any]] = []
    for provider in sorted(config.models):
        for name, spec in sorted(config.models[provider].items()):
            merged = dict(spec)
            target = spec.get("points_to")
            if isinstance(target, str):
                merged = {**(config.model_spec(provider, target) or {}), **spec}
            price = prices.lookup(provider, name)
            record = {
                "model": f"{provider}:{name}",
                "provider": provider,
                "alias_of": f"{provider}:{target}" if isinstance(target, str) else None,
                "context_window": merged.get("context_window"),
                "capabilities": merged.get("capabilities", []),
                "tokenizer": merged.get("encoding") or merged.get("tokenizer"),
                "input_per_1m": str(price.input) if price and price.input is not None else None,
                "output_per_1m": str(price.output) if price and price.output is not None else None,
            }
            if out.json_mode:
                out.record(record)
            else:
                rows.append([record["model"], record["alias_of"] or "", record["context_window"] or "",
                             ",".join(record["capabilities"]), record["tokenizer"] or "",
                             record["input_per_1m"] or "", record["output_per_1m"] or ""])
    for alias, target in sorted(config.aliases.items()):
        if out.json_mode:
            out.record({"model": alias, "alias_of": target, "provider": target.partition(":")[0]
                        if ":" in target else None})
        else:
            rows.append([alias, target, "", "", "", "", ""])
    if not out.json_mode:
        out.table(["model", "alias_of", "context_window", "capabilities", "tokenizer", "input_$/1M", "output_$/1M"],
                  rows, right_align=("context_window", "input_$/1M", "output_$/1M"))
