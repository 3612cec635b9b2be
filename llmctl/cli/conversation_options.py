"""Options of conversations and templates (`complete`, `run-local`): declared once, gathered into one
typed object for the library (llmctl.run.conversations, llmctl.core.templates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:  # the run layer loads when a command runs, not for `--help` or `tokenize`
    from llmctl.run.conversations import ConversationOptions

ContinueOpt = Annotated[bool, typer.Option(
    "--continue", "-c", help="Go on with the latest conversation (its model unless -m names another).")]
CidOpt = Annotated[
    Optional[str],  # noqa: UP045 - Typer reads the annotation at run time
    typer.Option("--cid", help="Go on with this conversation (ids: `llmctl logs --conversations`).",
                 show_default=False, metavar="ID"),
]
TruncateHistoryOpt = Annotated[bool, typer.Option(
    "--truncate-history", help="With -c/--cid: drop the oldest turns until the conversation fits the "
    "model's context window (default: exit 2).")]
NoLogOpt = Annotated[bool, typer.Option(
    "--no-log", help="Store no text of this exchange (as LLMCTL_NO_LOG=1); its cost is still logged.")]
TemplateOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--template", help="Use a saved template (`llmctl templates list`).", show_default=False,
                 metavar="NAME"),
]
ParamOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - NAME VALUE pairs, flattened by llmctl.cli.arguments
    typer.Option("--param", "-p", help="Fill a template's $NAME (repeatable).", show_default=False,
                 metavar="NAME VALUE"),
]
SaveOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--save", help="Save this command's prompt, -s, -m and options as a template; send nothing.",
                 show_default=False, metavar="NAME"),
]


@dataclass
class PromptSetup:
    """What the conversation and template options asked for."""

    conversation: ConversationOptions
    template: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    save: str | None = None


def prompt_setup(continue_last: bool = False, cid: str | None = None, truncate_history: bool = False,
                 no_log: bool = False, template: str | None = None,
                 params: list[str] | None = None, save: str | None = None) -> PromptSetup:
    from llmctl.core.errors import UsageError
    from llmctl.run.conversations import ConversationOptions

    values = list(params or [])
    if len(values) % 2 or any(not name for name in values[::2]):
        raise UsageError("-p/--param takes a NAME and a VALUE: -p topic BPE")
    if continue_last and cid:
        raise UsageError("-c/--continue and --cid both pick a conversation; give one")
    if save and template:
        raise UsageError("--save writes a new template from this command; it cannot be used with --template")
    return PromptSetup(ConversationOptions(continue_last, cid, no_log, truncate_history), template,
                       dict(zip(values[::2], values[1::2], strict=True)), save)
