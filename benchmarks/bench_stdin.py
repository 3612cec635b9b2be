"""Short piped stdin against the same text as an argument: `echo hello | llmctl tokenize -m openai:gpt-4o`.

    .venv/bin/python benchmarks/bench_stdin.py [--runs 15]

Both forms run as whole processes, interleaved; the script prints the median wall time and the
peak memory of each and the ratio of the piped form to the argument form (the baseline).
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


def one_run(args: list[str], stdin: bytes | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole run; CPU time stays honest on a busy machine."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "llmctl", *args], input=stdin, capture_output=True, env=env,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode())
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return seconds, cpu


def peak_mb(args: list[str], stdin: bytes | None) -> float:
    """The peak memory of one run, read by the process itself as it ends."""
    code = ("import resource, runpy, sys\n"
            f"sys.argv = ['llmctl', *{args!r}]\n"
            "try:\n    runpy.run_module('llmctl', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(f'@@{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, env=env,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    return int(proc.stderr.decode().rsplit("@@", 1)[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    command = ["tokenize", "-m", "openai:gpt-4o"]
    one_run([*command, "hello"], None)  # warm the rank index and the file cache
    runs: dict[str, list[tuple[float, float]]] = {"arg": [], "piped": []}
    for _ in range(args.runs):
        runs["arg"].append(one_run([*command, "hello"], None))
        runs["piped"].append(one_run(command, b"hello\n"))
    wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    mem = {"arg": peak_mb([*command, "hello"], None), "piped": peak_mb(command, b"hello\n")}
    names = {"arg": "llmctl tokenize -m openai:gpt-4o hello (baseline)",
             "piped": "echo hello | llmctl tokenize -m openai:gpt-4o"}
    for key in ("arg", "piped"):
        print(f"{names[key]:<52} wall {wall[key] * 1000:6.1f} ms ({wall[key] / wall['arg']:.2f}x)  "
              f"cpu {cpu[key] * 1000:6.1f} ms ({cpu[key] / cpu['arg']:.2f}x)  peak {mem[key]:4.0f} MB")
    print(f"median of {args.runs} runs each, interleaved; load average {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
