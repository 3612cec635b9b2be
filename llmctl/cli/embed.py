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
    NCtxOpt,
    NGpuLayersOpt,
    QuietOpt,
    RetryTimeoutsOpt,
    SingleModelOpt,
    ThreadsOpt,
    TimeoutOpt,
    TrustRemoteCodeOpt,
    VerboseOpt,
)


@guarded
def embed_command(
    ctx: typer.Context,
    texts: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="Texts to embed, one vector each; else stdin, -f or --jsonl.", show_default=False)] = None,
    model: SingleModelOpt = None,
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
    """
    from llmctl.cli import embed_run as run
    from llmctl.core.errors import UsageError

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose, table_format=table_format)
    if dimensions is not None and dimensions < 1:
        raise UsageError(f"--dimensions must be at least 1, not {dimensions}")
    options = dict(timeout=timeout, max_retries=max_retries, max_wait=max_wait,
                 retry_timeouts=retry_timeouts, concurrency=concurrency, n_ctx=n_ctx, threads=threads,
                   n_gpu_layers=n_gpu_layers, device=device, allow_pickle=allow_pickle,
                   trust_remote_code=trust_remote_code)
    items = run.read_texts(texts, file, jsonl, field)
    if similarity and len(items) < 2:
        raise UsageError("--similarity needs at least two texts")
    run.embed_items(out, model, items, options, base_url, dimensions=dimensions, normalize=normalize,
                    similarity=similarity)
