"""`llmctl summarize`: summaries of texts of any length, map-reduce or refine, with every call's cost added up."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import (
    AllowPickleOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DeviceOpt,
    FieldOpt,
    FileOpt,
    JsonlOpt,
    JsonOpt,
    MaxRetriesOpt,
    ModelOpt,
    NCtxOpt,
    NGpuLayersOpt,
    QuietOpt,
    ThreadsOpt,
    TimeoutOpt,
    TrustRemoteCodeOpt,
    VerboseOpt,
)
from llmctl.core.output import Output


@guarded
def summarize_command(
    ctx: typer.Context,
    text: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="The text (words are joined); else stdin, -f or --jsonl.", show_default=False)] = None,
    model: ModelOpt = None,
    max_words: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-words", help="Ask for at most this many words.", show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-tokens", help="Most tokens the summary may take.", show_default=False)] = None,
    style: Annotated[str, typer.Option("--style", help="paragraph, bullets or headline.")] = "paragraph",
    language: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--language", help="Write the summary in this language.", show_default=False)] = None,
    strategy: Annotated[str, typer.Option(
        "--strategy", help="For text longer than the window: map-reduce or refine.")] = "map-reduce",
    file: FileOpt = None,
    jsonl: JsonlOpt = None,
    field: FieldOpt = "text",
    base_url: BaseUrlOpt = None,
    timeout: TimeoutOpt = None,
    max_retries: MaxRetriesOpt = None,
    concurrency: ConcurrencyOpt = 4,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    n_gpu_layers: NGpuLayersOpt = None,
    device: DeviceOpt = None,
    allow_pickle: AllowPickleOpt = False,
    trust_remote_code: TrustRemoteCodeOpt = False,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Summarize texts of any length: cut to the model's window, then map-reduce or refine.

    \b
      llmctl summarize -m openai:gpt-4o-mini -f report.txt --max-words 100 --style bullets
      llmctl summarize -m smollm2 -f book.txt --strategy refine
      llmctl summarize -m hf:~/models/bart-large-cnn -f article.txt     # an encoder-decoder summariser
    """
    from llmctl.cli.backend import backend_options
    from llmctl.cli.task_run import TaskJob, run_task
    from llmctl.core.inputs import collect_inputs
    from llmctl.providers.base import COMPLETE
    from llmctl.tasks.summarize import SummarySpec, summarize

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose)
    spec = SummarySpec(max_words=max_words, max_tokens=max_tokens, style=style,  # type: ignore[arg-type]
                       language=language, strategy=strategy)  # type: ignore[arg-type]
    spec.check()
    options = backend_options(timeout=timeout, max_retries=max_retries, concurrency=concurrency, n_ctx=n_ctx,
                              threads=threads, n_gpu_layers=n_gpu_layers, device=device,
                              allow_pickle=allow_pickle, trust_remote_code=trust_remote_code, verbose=out.verbose)
    items = collect_inputs(text, file, jsonl, field, join_args=True)
    batch = jsonl is not None or len(items) > 1
    show = not out.quiet and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            sys.stderr.write(f"\rsummarizing: call {done} of {total}\x1b[K")
            sys.stderr.flush()

    def run_one(provider: Any, ref: Any, body: str) -> Any:
        result = summarize(provider, ref, body, spec, None if batch else progress)
        if show and not batch:
            sys.stderr.write("\r\x1b[K")
        return result

    job = TaskJob(check=lambda p, r: p.require(r, COMPLETE), run_one=run_one, render=_render)
    run_task(out, job, list(model or [None]), items, batch=batch, options=options, base_url=base_url,
             concurrency=concurrency, gold=None)


def _render(out: Output, text: str, record: dict[str, Any]) -> None:
    out.line(record["summary"])
    if record.get("chunks", 1) > 1:
        out.info(f"{record['chunks']} chunks, {record['calls']} calls ({record['strategy']})")
