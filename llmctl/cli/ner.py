"""`llmctl ner`: named entities with character offsets; highlighted on a terminal, TSV in a pipe."""

from __future__ import annotations

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

#: ANSI colours per entity type on a terminal (reverse video for types without one)
_COLOURS = {"PER": "\x1b[1;36m", "ORG": "\x1b[1;33m", "LOC": "\x1b[1;32m", "MISC": "\x1b[1;35m"}
_RESET = "\x1b[0m"


@guarded
def ner_command(
    ctx: typer.Context,
    text: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="The text (words are joined); else stdin, -f or --jsonl.", show_default=False)] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
    types: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--types", help="Entity types, comma-separated (default: PER,ORG,LOC,MISC).", show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-tokens", help="Most tokens each chunk's answer (the entity list) may take.",
        show_default=False)] = None,
    gold: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--gold", help="JSONL field with the right entities: print entity-level P/R/F1 per "
        "model (records keep it as gold.FIELD).",
        show_default=False)] = None,
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
    retry_failed: RetryFailedOpt = False,
    ordered: OrderedOpt = None,
    max_cost: MaxCostOpt = None,
    no_cache: NoCacheOpt = False,
    json_mode: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Find named entities, with character offsets into the input, on any backend.

    \b
      llmctl ner -m openai:gpt-4o "Barack Obama was born in Hawaii."
      llmctl ner -m hf:~/models/bert-base-NER --types PER,ORG,LOC -f article.txt --json
      llmctl ner --jsonl conll.jsonl --gold entities -m smollm2 -m hf:~/models/bert-base-NER
    """
    from llmctl.cli.run_command import model_names, run_options
    from llmctl.cli.task_show import run_task_command
    from llmctl.core.inputs import collect_inputs
    from llmctl.run import Session
    from llmctl.tasks.gold import gold_values, with_gold
    from llmctl.tasks.job import NerJob
    from llmctl.tasks.metrics import ner_metrics
    from llmctl.tasks.ner import NerSpec, parse_types

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose)
    from llmctl.providers.base import CompletionRequest

    spec = NerSpec(parse_types(types), CompletionRequest("", temperature=0.0, max_tokens=max_tokens))
    spec.check()
    settings = run_options(out, concurrency=concurrency or 4, max_cost=max_cost, output=output, resume=resume,
                           retry_failed=retry_failed, ordered=ordered, no_cache=no_cache)
    options = dict(timeout=timeout, max_retries=max_retries, max_wait=max_wait, retry_timeouts=retry_timeouts,
                   concurrency=concurrency, n_ctx=n_ctx, threads=threads,
                   n_gpu_layers=n_gpu_layers, device=device, allow_pickle=allow_pickle,
                   trust_remote_code=trust_remote_code, verbose=out.verbose)
    names = model_names(model, models_file, "complete")
    items = collect_inputs(text, file, jsonl, field, join_args=True)
    answers = gold_values(items, gold, jsonl) if gold is not None else None
    if answers is not None:
        _check_gold(answers, items)
        items = with_gold(items, gold)
    session = Session(NerJob(spec), names, options, base_url)

    def score(gold_entities: list[Any], records: list[dict[str, Any] | None]) -> dict[str, Any]:
        return ner_metrics(gold_entities, [r["entities"] if r is not None else None for r in records])

    run_task_command(out, session, items, settings, render=_render, batch=jsonl is not None or len(items) > 1,
                     estimate=estimate, gold=answers, score=score, metric_lines=_metric_lines)


def _check_gold(answers: list[Any], items: list[Any]) -> None:
    from llmctl.core.errors import InputError

    for value, item in zip(answers, items, strict=True):
        ok = isinstance(value, list) and all(
            isinstance(e, dict) and isinstance(e.get("start"), int) and isinstance(e.get("end"), int)
            and isinstance(e.get("type"), str) for e in value)
        if not ok:
            raise InputError(f"{item.source}:{item.line}: gold entities must be a list of {{start, end, type}}")


def _render(out: Output, text: str, record: dict[str, Any]) -> None:
    entities = record["entities"]
    for lost in record.get("dropped_entities") or []:
        out.debug(f"dropped (not in the text): {lost['type']}\t{lost['text']!r}")
    if not out.stdout_is_tty():
        # The header even with no entity: a reader of the TSV can tell "none" from "no output".
        out.line("start\tend\ttype\ttext")
        for e in entities:
            out.line(f"{e['start']}\t{e['end']}\t{e['type']}\t{' '.join(e['text'].split())}")
        return
    parts: list[str] = []
    cursor = 0
    for e in entities:
        if e["start"] < cursor:
            continue
        colour = _COLOURS.get(e["type"], "\x1b[7m")
        parts.append(text[cursor:e["start"]])
        parts.append(f"{colour}{text[e['start']:e['end']]}{_RESET}\x1b[2m[{e['type']}]{_RESET}")
        cursor = e["end"]
    parts.append(text[cursor:])
    out.line("".join(parts))


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    lines = [f"entities: precision {metrics['precision']:.4f} · recall {metrics['recall']:.4f} · "
             f"F1 {metrics['f1']:.4f} (exact span and type)", "type\tprecision\trecall\tF1\tsupport"]
    for kind, row in metrics["per_type"].items():
        lines.append(f"{kind}\t{row['precision']:.4f}\t{row['recall']:.4f}\t{row['f1']:.4f}\t{row['support']}")
    return lines
