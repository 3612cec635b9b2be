"""`llmctl templates list|show|edit|rm`: the saved prompt templates (`complete --save NAME`, `--template NAME`)."""

from __future__ import annotations

from typing import Annotated

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt

templates_app = typer.Typer(help="Prompt templates: list, show, edit, rm.", no_args_is_help=True,
                            add_completion=False)
NameArg = Annotated[str, typer.Argument(help="The template's name.", show_default=False)]


@templates_app.command("list")
@guarded
def templates_list(ctx: typer.Context, json_mode: JsonOpt = False, table_format: FormatOpt = None) -> None:
    """Every template: its parameters, model and the start of its prompt."""
    from llmctl.core.errors import ConfigError
    from llmctl.core.templates import list_templates, templates_dir

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    rows = []
    for name, found in list_templates():
        if isinstance(found, ConfigError):
            out.warn(found.one_line())
            continue
        if out.json_mode:
            out.record({"name": name, "model": found.model, "system": found.system, "prompt": found.prompt,
                        "parameters": found.parameters(), "options": found.options, "schema": found.schema})
            continue
        start = (found.prompt or found.system or "").strip().replace("\n", " ")
        rows.append([name, " ".join(f"${p}" for p in found.parameters()), found.model or "",
                     start if len(start) <= 50 else start[:49] + "…"])
    if not out.json_mode:
        out.table(["name", "parameters", "model", "prompt"], rows)
        if not rows:
            out.info(f"no templates in {templates_dir()}; save one with `llmctl complete ... --save NAME`")


@templates_app.command("show")
@guarded
def templates_show(ctx: typer.Context, name: NameArg, json_mode: JsonOpt = False) -> None:
    """The template's file as it is stored."""
    from llmctl.core.templates import load_template, template_path

    out = make_output(ctx, json_mode=json_mode)
    found = load_template(name)
    if out.json_mode:
        out.record({"name": name, "path": str(template_path(name)), "model": found.model, "system": found.system,
                    "prompt": found.prompt, "parameters": found.parameters(), "options": found.options,
                    "defaults": found.defaults, "schema": found.schema})
        return
    out.write(template_path(name).read_text(encoding="utf-8"))


@templates_app.command("edit")
@guarded
def templates_edit(ctx: typer.Context, name: NameArg) -> None:
    """Open the template in $VISUAL or $EDITOR (a new one starts empty); it is checked afterwards."""
    from llmctl.core.templates import edit_template

    out = make_output(ctx)
    path = edit_template(name)
    out.info(f"template {name} is {path}")


@templates_app.command("rm")
@guarded
def templates_rm(ctx: typer.Context, name: NameArg) -> None:
    """Remove a template."""
    from llmctl.core.templates import remove_template

    out = make_output(ctx)
    out.info(f"removed {remove_template(name)}")
