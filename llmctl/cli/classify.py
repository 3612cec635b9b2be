"""`llmctl classify`: label texts with any model, label probabilities, HF heads, and metrics against gold."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from llmctl.cli.model_command import ModelFlags, model_command
from llmctl.core.output import Output

GoldOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--gold", help="JSONL field with the right answer: print accuracy and cost per model.", show_default=False)]


@model_command(table_format=False, task=True)
def classify_command(
    ctx: typer.Context,
    labels: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--labels", "-l", help="Labels, comma-separated, or @FILE with one a line.", show_default=False)] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="Any number of labels may apply.")] = False,
    scores: Annotated[bool, typer.Option(
        "--scores", help="A probability for every label (gguf, hf and openai models).")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="Add a short reason for the answer.")] = False,
    examples: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--examples", help="JSONL of worked examples ({text, label}) for a few-shot prompt.",
        show_default=False)] = None,
    gold: GoldOpt = None,
    *,
    flags: ModelFlags,
) -> None:
    """Classify texts: one label (or several with --multi-label) from --labels, on any backend.

    \b
      llmctl classify --labels pos,neg "Very bad movie"
      llmctl classify -m smollm2 --labels pos,neg --scores "Very bad movie"
      llmctl classify -m hf:~/models/distilbert-sst2 "I love it"            # a head: its own labels
      llmctl classify --labels pos,neg --jsonl test.jsonl --gold label -m smollm2 -m openai:gpt-4o-mini
      llmctl classify --estimate -m openai:gpt-4o-mini --labels pos,neg --jsonl reviews.jsonl
      llmctl classify --labels pos,neg --jsonl reviews.jsonl -o labels.jsonl --resume --max-cost 1
    """
    from llmctl.cli.task_show import TaskView, run_task
    from llmctl.tasks.classify import ClassifyJob, ClassifySpec
    from llmctl.tasks.labels import load_examples, parse_labels
    from llmctl.tasks.metrics import classification_metrics

    label_list = parse_labels(labels) if labels is not None else None
    if examples is not None and label_list is None:
        from llmctl.core.errors import UsageError

        raise UsageError("--examples needs --labels")
    shots = load_examples(examples, label_list or [], multi_label=multi_label) if examples else []
    spec = ClassifySpec(label_list, multi_label=multi_label, scores=scores, explain=explain, examples=shots)

    def score(gold_answers: list[Any], records: list[dict[str, Any] | None]) -> dict[str, Any]:
        key = "labels" if multi_label else "label"
        predicted = [r.get(key) if r is not None else None for r in records]
        known = label_list or sorted({p for r in records if r for p in ([r[key]] if isinstance(r[key], str)
                                                                         else r[key])})
        return classification_metrics(gold_answers, predicted, known)

    run_task(flags, ClassifyJob(spec),
             TaskView(_render, score, _metric_lines), gold=gold)


def _render(out: Output, text: str, record: dict[str, Any]) -> None:
    chosen = record.get("label", record.get("labels"))
    shown = chosen if isinstance(chosen, str) else ", ".join(chosen or []) or "(none)"
    out.line(shown)
    if record.get("scores"):
        for label, p in sorted(record["scores"].items(), key=lambda kv: -kv[1]):
            out.line(f"{label}\t{p:.4f}")
    if record.get("reason"):
        out.line(f"reason: {record['reason']}")


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    lines = [f"accuracy {metrics['accuracy']:.4f} · macro-F1 {metrics['macro_f1']:.4f}",
             "label\tprecision\trecall\tF1\tsupport"]
    for label, row in metrics["per_label"].items():
        lines.append(f"{label}\t{row['precision']:.4f}\t{row['recall']:.4f}\t{row['f1']:.4f}\t{row['support']}")
    confusion = metrics.get("confusion")
    if confusion:
        lines.append("confusion (rows: gold, columns: predicted)")
        lines.append("\t" + "\t".join(confusion["labels"]))
        for label, row in zip(confusion["labels"], confusion["matrix"], strict=False):
            lines.append(label + "\t" + "\t".join(str(n) for n in row))
    return lines
