"""Default sampling for a local alias: which settings answer a small question set right most often.

Run: .venv/bin/python benchmarks/bench_sampling.py [--model smollm2] [--seeds 4] [--max-tokens 96] [--threads 1]
Every candidate answers every question of benchmarks/data/questions.jsonl once per seed, through the
same provider call `llmctl complete` makes; an answer counts as right when it contains one of the
question's accepted words. The baseline is llama-cpp-python's own defaults (temperature 0.8, top-p
0.95, repeat penalty 1.0), which is what a model without configured defaults samples with; each
candidate's score is printed with its ratio to the baseline, its score on the questions the README
asks (marked "readme"), and its mean answer length. The default is the best overall score among
the candidates that answer every README question right on every seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

QUESTIONS = Path(__file__).parent / "data" / "questions.jsonl"
SYSTEM = "You are a helpful assistant."

#: (name, temperature, top_p, top_k, repeat_penalty); the first is the baseline.
CANDIDATES: list[tuple[str, float, float, int, float]] = [
    ("llama-cpp-python defaults", 0.8, 0.95, 40, 1.0),
    ("greedy", 0.0, 1.0, 40, 1.0),
    ("greedy, penalty 1.1", 0.0, 1.0, 40, 1.1),
    ("t 0.1, top-p 0.9, penalty 1.1", 0.1, 0.9, 40, 1.1),
    ("t 0.2, top-p 0.9", 0.2, 0.9, 40, 1.0),
    ("t 0.2, top-p 0.9, penalty 1.1", 0.2, 0.9, 40, 1.1),
    ("t 0.2, top-k 5, top-p 0.9, penalty 1.1", 0.2, 0.9, 5, 1.1),
    ("t 0.3, top-p 0.9, penalty 1.1", 0.3, 0.9, 40, 1.1),
    ("t 0.5, top-p 0.9, penalty 1.1", 0.5, 0.9, 40, 1.1),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1, help="one thread copes best with a shared machine")
    args = parser.parse_args()

    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.registry import get_provider, resolve_model

    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    ref = resolve_model(args.model)
    provider = get_provider(ref, {"n_ctx": 1024, "threads": args.threads})
    provider.require(ref, "complete")
    provider.load(ref)
    print(f"model {ref.label} · {len(questions)} questions x {args.seeds} seeds · answers capped at "
          f"{args.max_tokens} tokens · system prompt {SYSTEM!r}")
    print("candidate\tright\tratio_to_baseline\treadme_right\tmean_output_tokens\tseconds")
    baseline = None
    readme_total = sum(1 for item in questions if item.get("readme")) * args.seeds
    for name, temperature, top_p, top_k, penalty in CANDIDATES:
        right, readme_right, lengths, started = 0, 0, [], time.perf_counter()
        for seed in range(args.seeds):
            for item in questions:
                request = CompletionRequest(item["question"], system=SYSTEM, temperature=temperature, top_p=top_p,
                                            top_k=top_k, repeat_penalty=penalty, max_tokens=args.max_tokens,
                                            seed=seed)
                completion = provider.complete(ref, request)
                text = completion.text.lower()
                good = any(word in text for word in item["accept"])
                right += good
                readme_right += good and bool(item.get("readme"))
                lengths.append(completion.usage.output_tokens)
        share = right / (len(questions) * args.seeds)
        baseline = share if baseline is None else baseline
        ratio = f"{share / baseline:.2f}x" if baseline else "-"
        print(f"{name}\t{share:.0%}\t{ratio}\t{readme_right}/{readme_total}\t{statistics.mean(lengths):.0f}\t"
              f"{time.perf_counter() - started:.0f}", flush=True)
    provider.close()


if __name__ == "__main__":
    main()
