"""`llmctl tokenize`: count, list, truncate and decode tokens with each model's own tokenizer."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FieldOpt, FileOpt, FormatOpt, JsonlOpt, JsonOpt, ModelOpt, QuietOpt
from llmctl.core.errors import InputError, UsageError
from llmctl.core.inputs import STDIN_NAME, InputItem, read_short_stdin, stdin_is_piped


@guarded
def tokenize_command(
    ctx: typer.Context,
    texts: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="Text to tokenize (or token ids with --decode).", show_default=False)] = None,
    model: ModelOpt = None,
    file: FileOpt = None,
    jsonl: JsonlOpt = None,
    field: FieldOpt = "text",
    ids: Annotated[bool, typer.Option("--ids", help="Print the token ids.")] = False,
    tokens: Annotated[bool, typer.Option("--tokens", help="Print one token per line, as readable bytes.")] = False,
    truncate: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--truncate", help="Print the text cut to its first N tokens.", show_default=False)] = None,
    decode: Annotated[bool, typer.Option("--decode", help="Arguments are token ids: print their text.")] = False,
    trust_remote_code: Annotated[bool, typer.Option(
        "--trust-remote-code", help="Allow an HF tokenizer's own code to run.")] = False,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    table_format: FormatOpt = None,
) -> None:
    """Count tokens (and what sending them would cost), or show, cut and decode them.

    \b
      echo "some text" | llmctl tokenize -m openai:gpt-4o-mini
      llmctl tokenize -m openai:gpt-4 --ids "We live in Paris"
      llmctl tokenize -m openai:gpt-4o -f a.txt -f b.txt
      llmctl tokenize -m openai:gpt-4o -m mistral:mistral-small-latest -f doc.txt
    """
    from llmctl.cli import tokenize_run as run

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, table_format=table_format)
    modes = [name for name, on in (("--ids", ids), ("--tokens", tokens), ("--truncate", truncate is not None),
                                   ("--decode", decode)) if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be used together")
    if truncate is not None and truncate <= 0:
        raise UsageError(f"--truncate must be a positive number of tokens, not {truncate}")
    names = model or [run.default_name()]
    if len(names) > 1 and modes:
        raise UsageError(f"{modes[0]} works on one model; several -m make a count comparison")
    options: dict[str, Any] = {"trust_remote_code": True} if trust_remote_code else {}
    if decode:
        run.decode_ids(out, names[0], texts or [], options)
        return
    if len(names) > 1:
        run.compare(out, names, run.read_items(texts, file, jsonl, field), options)
        return
    mode = "ids" if ids else "tokens" if tokens else "truncate" if truncate is not None else "count"
    items: list[InputItem] | None = None
    if mode == "count" and not texts and not jsonl and not file and stdin_is_piped():
        # Short piped input is counted like an argument; only a long one needs the streaming counter.
        short = read_short_stdin()
        if short is None:
            run.count_streams(out, names[0], ["-"], options, piped_stdin=True)
            return
        items = [InputItem(short, STDIN_NAME)]
    elif mode == "count" and not texts and not jsonl and file:
        run.count_streams(out, names[0], file, options)
        return
    items = items if items is not None else run.read_items(texts, file, jsonl, field)
    if mode == "count":
        run.count_items(out, names[0], items, options)
    else:
        run.show_tokens(out, names[0], items, mode, truncate, options)


__all__ = ["tokenize_command", "InputError"]
