"""`llmctl embed`: vectors for texts as JSONL, or how similar the inputs are to each other."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import (
    AllowPickleOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DeviceOpt,
    FieldOpt,
    FileOpt,
    FormatOpt,
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
    BatchApiOpt,
    DedupeOpt,
    EstimateOpt,
    MaxCostOpt,
    ModelsFileOpt,
    NoCacheOpt,
    OrderedOpt,
    OutputFileOpt,
    PollIntervalOpt,
    ResumeOpt,
    RetryFailedOpt,
)


@guarded
def embed_command(
    ctx: typer.Context,
    texts: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="Texts to embed, one vector each; else stdin, -f or --jsonl.", show_default=False)] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
    file: FileOpt = None,
    jsonl: JsonlOpt = None,
    field: FieldOpt = "text",
    dimensions: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--dimensions", help="Shorter vectors, for models that support it.", show_default=False)] = None,
    normalize: Annotated[bool, typer.Option("--normalize", help="Scale every vector to length 1.")] = False,
    similarity: Annotated[bool, typer.Option(
        "--similarity", help="Print the cosine similarity matrix of the inputs instead of vectors.")] = False,
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
    batch_api: BatchApiOpt = False,
    poll_interval: PollIntervalOpt = 30.0,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    table_format: FormatOpt = None,
) -> None:
    """Embed texts: one JSON line per input with its vector, or a similarity matrix.

    \b
      llmctl embed -m minilm "A man is eating food." "Someone is having a meal." --similarity
      llmctl embed -m openai:text-embedding-3-small --jsonl docs.jsonl --field body > vectors.jsonl
      llmctl embed -m openai:text-embedding-3-large --dimensions 256 "some text"
      llmctl embed -m minilm -m openai:text-embedding-3-small --similarity "king" "queen" "apple"
      llmctl embed --estimate --jsonl corpus.jsonl -m openai:text-embedding-3-small
    """
    from llmctl.cli import embed_show as show
    from llmctl.cli.run_command import model_names, run_options
    from llmctl.core.errors import UsageError
    from llmctl.core.inputs import collect_inputs
    from llmctl.run import EmbedJob, Session

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose, table_format=table_format)
    if dimensions is not None and dimensions < 1:
        raise UsageError(f"--dimensions must be at least 1, not {dimensions}")
    settings = run_options(out, concurrency=concurrency or 4, max_cost=max_cost, output=output, resume=resume,
                           retry_failed=retry_failed, ordered=ordered, no_cache=no_cache,
                           dedupe=dedupe)
    options = dict(timeout=timeout, max_retries=max_retries, max_wait=max_wait,
                   retry_timeouts=retry_timeouts, concurrency=concurrency, n_ctx=n_ctx, threads=threads,
                   n_gpu_layers=n_gpu_layers, device=device, allow_pickle=allow_pickle,
                   trust_remote_code=trust_remote_code, verbose=out.verbose)
    items = collect_inputs(texts, file, jsonl, field)
    if similarity and len(items) < 2:
        raise UsageError("--similarity needs at least two texts")
    session = Session(EmbedJob(dimensions, normalize), model_names(model, models_file, "embed"), options, base_url)
    if estimate:
        show.estimate(out, session, items)
    elif batch_api:
        from llmctl.cli.batch import run_with_batch_api

        run_with_batch_api(out, session, items, output=output, poll_interval=poll_interval, dedupe=dedupe)
    elif similarity:
        show.similarity(out, session, items, settings)
    else:
        show.vectors(out, session, items, settings)
