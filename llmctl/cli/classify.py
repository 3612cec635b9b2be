"""`llmctl classify`: label texts with any model, label probabilities, HF heads, and metrics against gold."""

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

GoldOpt = Annotated[Optional[str], typer.Option(  # noqa: UP045
    "--gold", show_default=False,
    help="JSONL field with the right answer: print accuracy and cost per model (records keep it as "
         "gold.FIELD).")]


@guarded
def classify_command(
    ctx: typer.Context,
    text: Annotated[Optional[list[str]], typer.Argument(  # noqa: UP045
        help="The text (words are joined); else stdin, -f or --jsonl.", show_default=False)] = None,
    model: ModelOpt = None,
    models_file: ModelsFileOpt = None,
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
    """Classify texts: one label (or several with --multi-label) from --labels, on any backend.

    \b
      llmctl classify --labels pos,neg "Very bad movie"
      llmctl classify -m smollm2 --labels pos,neg --scores "Very bad movie"
      llmctl classify -m hf:~/models/distilbert-sst2 "I love it"            # a head: its own labels
      llmctl classify --labels pos,neg --jsonl test.jsonl --gold label -m smollm2 -m openai:gpt-4o-mini
      llmctl classify --estimate -m openai:gpt-4o-mini --labels pos,neg --jsonl reviews.jsonl
      llmctl classify --labels pos,neg --jsonl reviews.jsonl -o labels.jsonl --resume --max-cost 1
    """
    from llmctl.cli.run_command import model_names, run_options
    from llmctl.cli.task_show import run_task_command
    from llmctl.core.inputs import collect_inputs
    from llmctl.run import Session
    from llmctl.tasks.classify import ClassifySpec
    from llmctl.tasks.gold import gold_values, labels_outside, outside_warning, with_gold
    from llmctl.tasks.job import ClassifyJob
    from llmctl.tasks.labels import load_examples, parse_labels
    from llmctl.tasks.metrics import classification_metrics

    out = make_output(ctx, json_mode=json_mode, quiet=quiet, verbose=verbose)
    label_list = parse_labels(labels) if labels is not None else None
    if examples is not None and label_list is None:
        from llmctl.core.errors import UsageError

        raise UsageError("--examples needs --labels")
    shots = load_examples(examples, label_list or [], multi_label=multi_label) if examples else []
    spec = ClassifySpec(label_list, multi_label=multi_label, scores=scores, explain=explain, examples=shots)
    settings = run_options(out, concurrency=concurrency or 4, max_cost=max_cost, output=output, resume=resume,
                           retry_failed=retry_failed, ordered=ordered, no_cache=no_cache)
    options = dict(timeout=timeout, max_retries=max_retries, max_wait=max_wait, retry_timeouts=retry_timeouts,
                   concurrency=concurrency, n_ctx=n_ctx, threads=threads,
                   n_gpu_layers=n_gpu_layers, device=device, allow_pickle=allow_pickle,
                   trust_remote_code=trust_remote_code, verbose=out.verbose)
    names = model_names(model, models_file, "complete")
    items = collect_inputs(text, file, jsonl, field, join_args=True)
    answers = gold_values(items, gold, jsonl) if gold is not None else None
    if gold is not None and answers is not None:
        items = with_gold(items, gold)
        outside = labels_outside(answers, label_list) if label_list is not None else None
        if outside:
            out.warn(outside_warning(gold, outside, label_list or []))
    session = Session(ClassifyJob(spec), names, options, base_url)

    def score(gold_answers: list[Any], records: list[dict[str, Any] | None]) -> dict[str, Any]:
        key = "labels" if multi_label else "label"
        predicted = [r.get(key) if r is not None else None for r in records]
        known = label_list or sorted({p for r in records if r for p in ([r[key]] if isinstance(r[key], str)
                                                                         else r[key])})
        return classification_metrics(gold_answers, predicted, known, closed=label_list is not None)

    run_task_command(out, session, items, settings, render=_render, batch=jsonl is not None or len(items) > 1,
                     estimate=estimate, gold=answers, score=score, metric_lines=_metric_lines)


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
    lines = [f"accuracy {metrics['accuracy']:.4f} · macro-F1 {metrics['macro_f1']:.4f}"]
    outside = metrics.get("gold_outside_labels")
    if outside:
        apart = ", ".join(f"{label} {count}" for label, count in outside.items())
        lines[0] += f" over {metrics['scored']} of {metrics['records']} records (gold outside --labels: {apart})"
    lines.append("label\tprecision\trecall\tF1\tsupport")
    for label, row in metrics["per_label"].items():
        lines.append(f"{label}\t{row['precision']:.4f}\t{row['recall']:.4f}\t{row['f1']:.4f}\t{row['support']}")
    confusion = metrics.get("confusion")
    if confusion:
        lines.append("confusion (rows: gold, columns: predicted)")
        lines.append("\t" + "\t".join(confusion["labels"]))
        for label, row in zip(confusion["labels"], confusion["matrix"], strict=False):
            lines.append(label + "\t" + "\t".join(str(n) for n in row))
    return lines
