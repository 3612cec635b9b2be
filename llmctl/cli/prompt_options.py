"""Options that add to a prompt (--schema, attachments, tools), declared once; one typed object out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer._click.types import Tuple as ClickTuple  # Typer bundles its own Click; its Tuple reads PATH TYPE

if TYPE_CHECKING:
    from llmctl.core.output import Output
    from llmctl.run.prompt_features import PromptFeatures

SchemaOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045 - Typer reads the annotation at run time
    "--schema", metavar="SCHEMA", show_default=False,
    help="The answer is a JSON object matching this: a .json file, a JSON Schema, or fields "
         "(`name, age int, bio: a short biography`).")]
SchemaMultiOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--schema-multi", metavar="SCHEMA", show_default=False,
    help="As --schema, for a list of such objects: the answer is {\"items\": [...]}.")]
AttachmentOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--attachment", "-a", metavar="PATH|URL", show_default=False,
    help="Send this image (or PDF, audio, where the model takes it) with the prompt (repeatable).")]
# Typer has no list-of-pairs type; Click's own Tuple type takes the two words of each --at.
AttachmentTypeOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--at", "--attachment-type", metavar="PATH TYPE", show_default=False, click_type=ClickTuple([str, str]),
    help="An attachment with its type given (image/png, application/pdf); checked against its bytes.")]
ToolOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--tool", "-T", metavar="NAME", show_default=False,
    help="Let the model call this built-in tool (calc, llm_time); repeatable.")]
FunctionsOpt = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
    "--functions", metavar="PATH", show_default=False,
    help="Let the model call every public function of this Python file (repeatable).")]
ChainLimitOpt = Annotated[int, typer.Option(
    "--chain-limit", metavar="N", help="Most model calls one prompt may take while the model calls tools.")]
ToolsDebugOpt = Annotated[bool, typer.Option(
    "--td", "--tools-debug", help="Show each tool call and its result on stderr.")]


def prompt_features(out: Output, *, schema: str | None = None, schema_multi: str | None = None,
                    attachments: list[str] | None = None, typed: list[tuple[str, str]] | list[str] | None = None,
                    tools: list[str] | None = None, functions: list[str] | None = None, chain_limit: int = 5,
                    tools_debug: bool = False) -> PromptFeatures:
    """Read and check every file these options name (exit 2 naming the bad one) before any model is opened."""
    from llmctl.core.attachments import load_attachment
    from llmctl.core.errors import UsageError
    from llmctl.core.schemas import read_schema
    from llmctl.core.tooling import ToolResult
    from llmctl.run.prompt_features import PromptFeatures

    if schema and schema_multi:
        raise UsageError("give --schema or --schema-multi, not both")
    parsed = read_schema(schema or schema_multi or "", multi=bool(schema_multi)) if schema or schema_multi else None
    found = [load_attachment(a) for a in attachments or []]
    found += [load_attachment(str(pair[0]), str(pair[1])) for pair in typed or []]
    chosen = []
    if tools or functions:
        from llmctl.tools import choose_tools

        chosen = choose_tools(tools or [], functions or [])

    def show(result: ToolResult) -> None:
        out.info(f"tool {result.call.name}({result.call.arguments}) -> {result.output}")

    return PromptFeatures(schema=parsed, attachments=found, tools=chosen, chain_limit=chain_limit,
                          on_tool=show if tools_debug else None)
