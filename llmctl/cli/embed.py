"""`llmctl embed`: vectors for texts as JSONL, or how similar the inputs are to each other."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from llmctl.cli.model_command import ModelFlags, model_command
from llmctl.cli.options import FieldOpt, FileOpt, JsonlOpt, ModelOpt
from llmctl.cli.run_options import ModelsFileOpt


@model_command(batch=True)
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
    *,
    flags: ModelFlags,
) -> None:
    """Embed texts: one JSON line per input with its vector, or a similarity matrix.

    \b
      llmctl embed -m minilm "A man is eating food." "Someone is having a meal." --similarity
      llmctl embed -m openai:text-embedding-3-small --jsonl docs.jsonl --field body > vectors.jsonl
      llmctl embed -m openai:text-embedding-3-large --dimensions 256 "some text"
      llmctl embed -m minilm -m openai:text-embedding-3-small --similarity "king" "queen" "apple"
      llmctl embed --estimate --jsonl corpus.jsonl -m openai:text-embedding-3-small
    """
    from llmctl.cli.embed_show import show
    from llmctl.cli.run_command import model_names
    from llmctl.core.errors import UsageError
    from llmctl.core.inputs import collect_inputs
    from llmctl.run import EmbedJob, Plan

    if dimensions is not None and dimensions < 1:
        raise UsageError(f"--dimensions must be at least 1, not {dimensions}")
    settings = flags.run_options()
    items = collect_inputs(texts, file, jsonl, field)
    if similarity and len(items) < 2:
        raise UsageError("--similarity needs at least two texts")
    session = flags.session(EmbedJob(dimensions, normalize), model_names(model, models_file, "embed"))
    plan = Plan(estimate=flags.run.estimate, batch_api=flags.batch.batch_api, poll_interval=flags.batch.poll_interval)
    show(flags.out, session, items, plan, settings, similarity=similarity)
