"""What classify, summarize and ner get right on the embedded SmolLM2-135M, each against a baseline.

Run through `benchmarks/bench_tasks.py --only quality`. The sets are in benchmarks/task_sets/:
classify_sentiment.jsonl (24, positive/negative), classify_topic.jsonl (24, four topics),
summarize.jsonl (20 paragraphs of 62-112 words, each with a one-sentence reference written for it),
ner.jsonl (26 sentences, CoNLL types, offsets). Figures printed here are quoted in the README and,
where the model falls short, in llmctl/tasks/fitness.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

SETS = Path(__file__).resolve().parent / "task_sets"


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SETS / name).read_text().splitlines() if line.strip()]


def rouge1(candidate: str, reference: str) -> float:
    """ROUGE-1 F: unigram overlap of lowercased words, punctuation stripped."""
    def bag(text: str) -> Counter[str]:
        return Counter(w.strip(".,;:!?\"'()-").lower() for w in text.split() if w.strip(".,;:!?\"'()-"))

    c, r = bag(candidate), bag(reference)
    overlap = sum((c & r).values())
    if not overlap:
        return 0.0
    p, rec = overlap / sum(c.values()), overlap / sum(r.values())
    return 2 * p * rec / (p + rec)


def _spy(provider: Any) -> list[Any]:
    seen: list[Any] = []
    real = provider.complete

    def complete(ref: Any, request: Any, on_text: Any = None) -> Any:
        result = real(ref, request, on_text)
        seen.append(result)
        return result

    provider.complete = complete
    return seen


def _calibrated(provider: Any, ref: Any, text: str, spec: Any, labels: list[str]) -> str:
    """Contextual calibration (Zhao et al. 2021): the label probabilities divided by those the model gives
    for the content-free text "N/A" in the same prompt. Measured, and not used: see the README."""
    from llmctl.tasks import classify as task
    from llmctl.tasks.scoring import option_probabilities

    ordered = task.canonical(labels)

    def probs(body: str) -> list[float]:
        request = dataclasses.replace(spec.template, prompt=task._prompt(body, spec, ordered, label_only=True))
        return option_probabilities(provider, ref, request, ordered)[0]

    key = (id(provider), tuple(ordered))
    if key not in _BIAS:
        _BIAS[key] = probs("N/A")
    ratios = [p / max(b, 1e-9) for p, b in zip(probs(text), _BIAS[key], strict=True)]
    return ordered[max(range(len(ordered)), key=lambda i: ratios[i])]


_BIAS: dict[Any, list[float]] = {}


def bench_classify(ref: Any, provider: Any) -> None:
    from llmctl.tasks import classify as task

    for name, labels in (("classify_sentiment.jsonl", ["positive", "negative"]),
                         ("classify_topic.jsonl", ["sports", "business", "science", "food"])):
        rows = load(name)
        print(f"classify, {name} ({len(rows)} texts, labels {', '.join(labels)})")
        for method in ("generate", "scores", "calibrated"):
            answers: dict[str, list[str]] = {}
            started = time.perf_counter()
            # Uncalibrated scores read the labels in one sorted order whatever --labels says: one pass.
            orders = (("given", labels),) if method == "scores" else (("given", labels), ("reversed", labels[::-1]))
            for order, given in orders:
                spec = task.ClassifySpec(given)
                if method == "generate":
                    answers[order] = [task._generate(provider, ref, r["text"], spec, given).fields["label"]
                                      for r in rows]
                    continue
                if method == "scores":
                    answers[order] = [task._scored(provider, ref, r["text"], spec, given).fields["label"]
                                      for r in rows]
                    continue
                answers[order] = [_calibrated(provider, ref, r["text"], spec, given) for r in rows]
            seconds = (time.perf_counter() - started) / (len(orders) * len(rows))
            gold = [r["label"] for r in rows]
            for order, given in orders:
                right = sum(a == g for a, g in zip(answers[order], gold, strict=True))
                first = sum(a == given[0] for a in answers[order])
                print(f"  {method:10s} {order:8s} accuracy {right / len(rows):.3f} ({right}/{len(rows)})   "
                      f"answered the first label {first}/{len(rows)}")
            if len(orders) == 1:
                print(f"  {method:10s} {seconds:.2f} s a text")
                continue
            flips = sum(a != b for a, b in zip(answers["given"], answers["reversed"], strict=True))
            print(f"  {method:10s} answer changed with the label order: {flips}/{len(rows)}   "
                  f"{seconds:.2f} s a text")


def bench_summarize(ref: Any, provider: Any) -> None:
    from llmctl.tasks.summarize import SummarySpec, summarize
    from llmctl.tasks.summary_shape import allowed_words, copied, extract, words

    rows = load("summarize.jsonl")
    seen = _spy(provider)
    print(f"summarize, summarize.jsonl ({len(rows)} paragraphs of "
          f"{min(words(r['text']) for r in rows)}-{max(words(r['text']) for r in rows)} words)")
    for max_words, style in ((20, "paragraph"), (30, "bullets")):
        spec = SummarySpec(max_words=max_words, style=style)  # type: ignore[arg-type]
        raw_rouge = out_rouge = lead_rouge = 0.0
        copies = cut = held_raw = held = over = extractive = bulleted_raw = 0
        started = time.perf_counter()
        for row in rows:
            seen.clear()
            fields = summarize(provider, ref, row["text"], spec).fields
            raw = seen[-1].text
            copies += copied(raw.strip(), row["text"])
            cut += seen[-1].finish_reason == "length"
            held_raw += words(raw) <= allowed_words(max_words)
            held += fields["words"] <= allowed_words(max_words)
            over += bool(fields["max_words_exceeded"])
            extractive += fields["method"] == "extractive"
            bulleted_raw += raw.lstrip().startswith(("-", "*", "•"))
            raw_rouge += rouge1(raw, row["reference"])
            out_rouge += rouge1(fields["summary"], row["reference"])
            lead_rouge += rouge1(extract(row["text"], max_words), row["reference"])
        n = len(rows)
        seconds = (time.perf_counter() - started) / n
        print(f"  --max-words {max_words} --style {style}: {seconds:.2f} s a text")
        print(f"    model answer:  copied the input {copies}/{n}, cut by the token cap {cut}/{n}, "
              f"within the limit (+10%) {held_raw}/{n}"
              + (f", bulleted {bulleted_raw}/{n}" if style == "bullets" else "")
              + f", ROUGE-1 F {raw_rouge / n:.3f}")
        print(f"    llmctl record: within the limit {held}/{n} (max_words_exceeded {over}), "
              f"extractive fallback {extractive}/{n}, ROUGE-1 F {out_rouge / n:.3f}")
        print(f"    baseline (lead sentences within the limit): ROUGE-1 F {lead_rouge / n:.3f}")


def _exact(text: str, named: list[tuple[str, str]]) -> list[tuple[int, int, str]]:
    """The lookup before the fuzzy one: the name as written, else dropped."""
    spans, taken = [], set()
    for surface, kind in named:
        surface = surface.strip()
        start = text.find(surface) if surface else -1
        while start >= 0 and (start, start + len(surface)) in taken:
            start = text.find(surface, start + 1)
        if start >= 0:
            taken.add((start, start + len(surface)))
            spans.append((start, start + len(surface), kind))
    return spans


def _prf(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return f"P {p:.3f} R {r:.3f} F1 {f:.3f}"


def bench_ner(ref: Any, provider: Any) -> None:
    from llmctl.tasks.ner import NerSpec, locate, ner
    from llmctl.tasks.structured import json_text

    rows = load("ner.jsonl")
    seen = _spy(provider)
    counts = {"exact": [0, 0, 0], "fuzzy": [0, 0, 0]}
    named_total = kept_total = untyped_hits = 0
    started = time.perf_counter()
    for row in rows:
        seen.clear()
        text = row["text"]
        try:
            ner(provider, ref, text, NerSpec())
        except Exception:  # noqa: BLE001 - an answer that never validated names nothing
            named: list[tuple[str, str]] = []
        else:
            answer = json.loads(json_text(seen[-1].text))
            named = [(e["text"], e["type"]) for e in answer["entities"]]
        gold = {(e["start"], e["end"], e["type"]) for e in row["entities"]}
        gold_spans = {(a, b) for a, b, _ in gold}
        found, _ = locate(text, named)
        for how, spans in (("exact", set(_exact(text, named))),
                           ("fuzzy", {(e["start"], e["end"], e["type"]) for e in found})):
            counts[how][0] += len(spans & gold)
            counts[how][1] += len(spans - gold)
            counts[how][2] += len(gold - spans)
        named_total += len(named)
        kept_total += len(found)
        untyped_hits += len({(e["start"], e["end"]) for e in found} & gold_spans)
    n = len(rows)
    gold_total = sum(len(r["entities"]) for r in rows)
    print(f"ner, ner.jsonl ({n} sentences, {gold_total} entities): {(time.perf_counter() - started) / n:.2f} s a text")
    print(f"  named {named_total}, found in the text {kept_total} (fuzzy), right span whatever the type "
          f"{untyped_hits}/{gold_total}")
    for how, (tp, fp, fn) in counts.items():
        print(f"  offsets {how:5s}: {_prf(tp, fp, fn)}  (exact span and type)")


def bench_quality(threads: int | None, alias_defaults: bool = False,
                  tasks: tuple[str, ...] = ("classify", "summarize", "ner")) -> None:
    """As the CLI runs the tasks: temperature 0 and nothing else set (`alias_defaults`: the alias's system
    prompt and repeat penalty added, as `complete` uses them, to see whether they help)."""
    from llmctl.providers.defaults import model_defaults
    from llmctl.providers.registry import get_provider, resolve_model

    ref = resolve_model("smollm2")
    provider = get_provider(ref, {"threads": threads} if threads else {})
    provider.require(ref, "complete")
    provider.load(ref)
    added = {k: v for k, v in model_defaults(ref, provider).items() if k in ("system", "repeat_penalty")}
    print(f"quality on {ref.label} ({Path(ref.model).name}), {provider.thread_count()} threads, "
          f"alias defaults added: {added if alias_defaults else 'none (as the task commands run)'}")
    if alias_defaults:
        real = provider.complete

        def with_defaults(r: Any, request: Any, on_text: Any = None) -> Any:
            unset = {k: v for k, v in added.items() if getattr(request, k) is None}
            return real(r, dataclasses.replace(request, **unset), on_text)

        provider.complete = with_defaults
    for task in tasks:
        {"classify": bench_classify, "summarize": bench_summarize, "ner": bench_ner}[task](ref, provider)
