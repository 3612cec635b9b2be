"""`llmctl models`: the known models and aliases, with window, prices and capabilities."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt

COLUMNS = ["model", "alias_of", "context_window", "capabilities", "attachments", "defaults", "input_$/1M",
           "output_$/1M"]


def _defaults_text(defaults: dict[str, Any]) -> str:
    """Sampling defaults, short (the system prompt is in --json)."""
    return ", ".join(f"{name} {value}" for name, value in defaults.items() if name != "system")


@guarded
def models_command(
    ctx: typer.Context,
    source: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--from", help="List what an OpenAI-compatible server serves: a profile name (or openai).",
        show_default=False)] = None,
    provider: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--provider", help="Only this provider's models (anthropic, gemini, openai, ...).", show_default=False)] = None,
    json_mode: JsonOpt = False,
    table_format: FormatOpt = None,
) -> None:
    """List known models and aliases: provider, context window, capabilities, sampling defaults, prices.

    \b
    Local aliases are read from their files; GGUF files in the Hugging Face cache are listed too.
      llmctl models
      llmctl models --from vllm        # what the profile's server lists at /v1/models
      llmctl models --provider anthropic
    """
    from llmctl.core.config import get_config
    from llmctl.providers import catalog

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    config = get_config()
    if source is not None:
        rows = catalog.served_models(config, source)
    else:
        rows = catalog.configured_models(config) + catalog.aliases(config) + catalog.found_models()
    if provider is not None:
        rows = catalog.of_provider(config, rows, provider)
    if out.json_mode:
        for row in rows:
            out.record(row.to_json())
        return
    out.table(COLUMNS, [[row.model, row.alias_of or "", row.context_window or "", ", ".join(row.capabilities),
                         _attachments_text(row.attachments), _defaults_text(row.defaults), row.input_per_1m or "",
                         row.output_per_1m or ""] for row in rows],
              right_align=("context_window", "input_$/1M", "output_$/1M"), no_wrap=("model", "alias_of"),
              droppable=("defaults", "attachments", "alias_of", "capabilities", "output_$/1M", "input_$/1M"))


def _attachments_text(types: list[str]) -> str:
    """image/png, image/jpeg, application/pdf -> images, pdf (the table stays narrow; --json has them all)."""
    kinds = sorted({"images" if t.startswith("image/") else "pdf" if t == "application/pdf" else t for t in types})
    return ", ".join(kinds)
