"""The GGUF thread default, idle and with other work on the cores.

    .venv/bin/python benchmarks/bench_threads.py [--runs 3] [--max-tokens 100] [--load 2]

Times `llmctl complete -m smollm2 --max-tokens 100` (a whole process: start, load, generate) with
`--threads` set to every CPU, to 1, and left to the default, first as the machine is, then while
`--load` busy-looping processes hold the cores. For each condition it prints the median wall
time of each setting and its ratio to the best fixed setting measured in the same run (the
baseline: what a user who knew the load would pick). The default should be within a few percent
of that baseline in both conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Write a long story about a frog who wants to see the sea. Tell every step of the journey."
SPIN = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\nwhile True:\n    pass\n"


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def one_run(threads: int | None, max_tokens: int) -> tuple[float, int]:
    command = [sys.executable, "-m", "llmctl", "complete", "-m", "smollm2", "--max-tokens", str(max_tokens),
               "--temperature", "0", "--json", PROMPT]
    if threads is not None:
        command[4:4] = ["--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"llmctl failed ({proc.returncode}): {proc.stderr.strip()}")
    return seconds, int(json.loads(proc.stdout)["usage"]["output_tokens"])


def measure(settings: dict[str, int | None], runs: int, max_tokens: int) -> dict[str, tuple[float, int]]:
    times: dict[str, list[float]] = {name: [] for name in settings}
    tokens: dict[str, int] = {}
    for _ in range(runs):  # interleaved, so a change in the background hits every setting alike
        for name, threads in settings.items():
            seconds, made = one_run(threads, max_tokens)
            times[name].append(seconds)
            tokens[name] = made
    return {name: (statistics.median(values), tokens[name]) for name, values in times.items()}


def report(title: str, results: dict[str, tuple[float, int]]) -> None:
    baseline = min(results[name][0] for name in results if name != "default")
    print(f"\n{title}  (load average {os.getloadavg()[0]:.2f})")
    print(f"{'setting':<16}{'median s':>10}{'tokens':>8}{'ratio to best fixed':>22}")
    for name, (seconds, made) in results.items():
        print(f"{name:<16}{seconds:>10.2f}{made:>8}{seconds / baseline:>21.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--load", type=int, default=2, help="busy-looping background processes")
    args = parser.parse_args()
    n = cpus()
    settings: dict[str, int | None] = {f"--threads {n}": n, "--threads 1": 1, "default": None}
    if n == 1:
        settings.pop("--threads 1")
    print(f"{n} CPUs; llmctl complete -m smollm2 --max-tokens {args.max_tokens}; median of {args.runs} runs")
    one_run(1, 5)  # warm the file cache
    report("as the machine is", measure(settings, args.runs, args.max_tokens))
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.load)]
    try:
        time.sleep(1.0)
        report(f"with {args.load} busy background processes", measure(settings, args.runs, args.max_tokens))
    finally:
        for proc in spinners:
            proc.terminate()
        for proc in spinners:
            proc.wait()


if __name__ == "__main__":
    main()
