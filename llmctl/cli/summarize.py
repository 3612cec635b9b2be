"""`llmctl summarize`: summaries of texts of any length, map-reduce or refine, with every call's cost added up."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from llmctl.cli.model_command import ModelFlags, model_command
from llmctl.core.output import Output


@model_command(table_format=False, task=True)
def summarize_command(
    ctx: typer.Context,
    max_words: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-words", help="Ask for at most this many words.", show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-tokens", help="Most tokens the summary may take.", show_default=False)] = None,
    style: Annotated[str, typer.Option("--style", help="paragraph, bullets or headline.")] = "paragraph",
    language: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--language", help="Write the summary in this language.", show_default=False)] = None,
    strategy: Annotated[str, typer.Option(
        "--strategy", help="For text longer than the window: map-reduce or refine.")] = "map-reduce",
    *,
    flags: ModelFlags,
) -> None:
    """Summarize texts of any length: cut to the model's window, then map-reduce or refine.

    \b
      llmctl summarize -m openai:gpt-4o-mini -f report.txt --max-words 100 --style bullets
      llmctl summarize -m smollm2 -f book.txt --strategy refine
      llmctl summarize -m hf:~/models/bart-large-cnn -f article.txt     # an encoder-decoder summariser
      llmctl summarize --estimate -m openai:gpt-4o-mini -f book.txt      # every chunk's call counted, no network
    """
    from llmctl.cli.task_show import TaskRun, TaskView, run_task
    from llmctl.tasks.summarize import SummarizeJob, SummarySpec

    out = flags.out
    spec = SummarySpec(max_words=max_words, max_tokens=max_tokens, style=style,  # type: ignore[arg-type]
                       language=language, strategy=strategy)  # type: ignore[arg-type]
    spec.check()
    shown: list[bool] = []

    def progress(done: int, total: int) -> None:
        sys.stderr.write(f"\rsummarizing: call {done} of {total}\x1b[K")
        sys.stderr.flush()

    def job(run: TaskRun) -> SummarizeJob:
        # One document on a terminal: its calls counted as they go (a batch has the run's progress bar).
        shown.append(not out.quiet and sys.stderr.isatty() and not run.batch and len(run.names) == 1)
        return SummarizeJob(spec, progress if shown[-1] else None)

    try:
        run_task(flags, job, TaskView(_render))
    finally:
        if any(shown):
            sys.stderr.write("\r\x1b[K")


def _render(out: Output, text: str, record: dict[str, Any]) -> None:
    out.line(record["summary"])
    if record.get("chunks", 1) > 1:
        out.info(f"{record['chunks']} chunks, {record['calls']} calls ({record['strategy']})")
