"""`llmctl ner`: named entities with character offsets; highlighted on a terminal, TSV in a pipe."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from llmctl.cli.model_command import ModelFlags, model_command
from llmctl.core.output import Output

#: ANSI colours per entity type on a terminal (reverse video for types without one)
_COLOURS = {"PER": "\x1b[1;36m", "ORG": "\x1b[1;33m", "LOC": "\x1b[1;32m", "MISC": "\x1b[1;35m"}
_RESET = "\x1b[0m"


@model_command(table_format=False, task=True)
def ner_command(
    ctx: typer.Context,
    types: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--types", help="Entity types, comma-separated (default: PER,ORG,LOC,MISC).", show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--max-tokens", help="Most tokens each chunk's answer (the entity list) may take.",
        show_default=False)] = None,
    gold: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--gold", help="JSONL field with the right entities: print entity-level P/R/F1 per "
        "model (records keep it as gold.FIELD).",
        show_default=False)] = None,
    *,
    flags: ModelFlags,
) -> None:
    """Find named entities, with character offsets into the input, on any backend.

    \b
      llmctl ner -m openai:gpt-4o "Barack Obama was born in Hawaii."
      llmctl ner -m hf:~/models/bert-base-NER --types PER,ORG,LOC -f article.txt --json
      llmctl ner --jsonl conll.jsonl --gold entities -m smollm2 -m hf:~/models/bert-base-NER
    """
    from llmctl.cli.task_show import TaskView, run_task
    from llmctl.providers.base import CompletionRequest
    from llmctl.tasks.metrics import ner_metrics
    from llmctl.tasks.ner import NerJob, NerSpec, parse_types

    spec = NerSpec(parse_types(types), CompletionRequest("", temperature=0.0, max_tokens=max_tokens))
    spec.check()

    def score(gold_entities: list[Any], records: list[dict[str, Any] | None]) -> dict[str, Any]:
        return ner_metrics(gold_entities, [r["entities"] if r is not None else None for r in records])

    run_task(flags, NerJob(spec), TaskView(_render, score, _metric_lines, check_gold=_check_gold), gold=gold)


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
