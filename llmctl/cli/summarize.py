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
    MaxWaitOpt,
    ModelOpt,
    NCtxOpt,
    NGpuLayersOpt,
    QuietOpt,
    RetryTimeoutsOpt,
    ThreadsOpt,
    TimeoutOpt,
    TrustRemoteCodeOpt,
    VerboseOpt,
)
from llmctl.cli.run_options import (
    DedupeOpt,
    EstimateOpt,
    MaxCostOpt,
    ModelsFileOpt,
    NoCacheOpt,
    OrderedOpt,
    OutputFileOpt,
    ResumeOpt,
    RetryFailedOpt,
)
from llmctl.core.output import Output


@guarded
def summarize_command(
    ctx: typer.Context,
    text: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="The text (words are joined); else stdin, -f or --jsonl.", show_default=False)] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
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
    max_wait: MaxWaitOpt = None,
    retry_timeouts: RetryTimeoutsOpt = False,
    concurrency: ConcurrencyOpt = None,
    n_ctx: NCtxOpt = None,
    threads: ThreadsOpt = None,
    n_gpu_layers: NGpuLayersOpt = None,
    device: DeviceOpt = None,
    allow_pickle: AllowPickleOpt = False,
    trust_remote_code: TrustRemoteCodeOpt = False,
    estimate: EstimateOpt = False,
    output: OutputFileOpt = None,
    resume: ResumeOpt = False,
    dedupe: DedupeOpt = False,
    retry_failed: RetryFailedOpt = False,
    ordered: OrderedOpt = None,
    max_cost: MaxCostOpt = None,
    no_cache: NoCacheOpt = False,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Summarize texts of any length: cut to the model's window, then map-reduce or refine.

    \b
      llmctl summarize -m openai:gpt-4o-mini -f report.txt --max-words 100 --style bullets
      llmctl summarize -m smollm2 -f book.txt --strategy refine
      llmctl summarize -m hf:~/models/bart-large-cnn -f article.txt     # an encoder-decoder summariser
      llmctl summarize --estimate -m openai:gpt-4o-mini -f book.txt      # every chunk's call counted, no network
    """
    from llmctl.cli.run_command import model_names, run_options
    from llmctl.cli.task_show import run_task_command
    from llmctl.core.inputs import collect_inputs
    from llmctl.run import Session
    from llmctl.tasks.job import SummarizeJob
    from llmctl.tasks.summarize import SummarySpec

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose)
    spec = SummarySpec(max_words=max_words, max_tokens=max_tokens, style=style,  # type: ignore[arg-type]
                       language=language, strategy=strategy)  # type: ignore[arg-type]
    spec.check()
    settings = run_options(out, concurrency=concurrency or 4, max_cost=max_cost, output=output, resume=resume,
                           retry_failed=retry_failed, ordered=ordered, no_cache=no_cache,
                           dedupe=dedupe)
    options = dict(timeout=timeout, max_retries=max_retries, max_wait=max_wait, retry_timeouts=retry_timeouts,
                   concurrency=concurrency, n_ctx=n_ctx, threads=threads,
                   n_gpu_layers=n_gpu_layers, device=device, allow_pickle=allow_pickle,
                   trust_remote_code=trust_remote_code, verbose=out.verbose)
    names = model_names(model, models_file, "complete")
    items = collect_inputs(text, file, jsonl, field, join_args=True)
    batch = jsonl is not None or len(items) > 1
    # One document on a terminal: its calls counted as they go (a batch has the run's progress bar).
    show = not out.quiet and sys.stderr.isatty() and not batch and len(names) == 1

    def progress(done: int, total: int) -> None:
        sys.stderr.write(f"\rsummarizing: call {done} of {total}\x1b[K")
        sys.stderr.flush()

    session = Session(SummarizeJob(spec, progress if show else None), names, options, base_url)
    try:
        run_task_command(out, session, items, settings, render=_render, batch=batch, estimate=estimate)
    finally:
        if show:
            sys.stderr.write("\r\x1b[K")


def _render(out: Output, text: str, record: dict[str, Any]) -> None:
    out.line(record["summary"])
    if record.get("chunks", 1) > 1:
        out.info(f"{record['chunks']} chunks, {record['calls']} calls ({record['strategy']})")
