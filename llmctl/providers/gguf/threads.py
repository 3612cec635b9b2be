"""How many CPU threads llama.cpp gets by default: the CPUs this process may use, less those busy elsewhere.

llama.cpp's threads meet at a barrier after every layer, so one thread the kernel parks behind
another program stalls all of them. Measured with benchmarks/bench_threads.py (2 cores, SmolLM2,
100 tokens): idle, 2 threads beat 1; with two busy background processes, 1 thread beats 2 by
far (the figures are in the README). So the default counts the cores other programs kept busy
while llmctl started (from /proc/stat, less llmctl's own CPU time) and leaves those to them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

#: Shortest look at the CPUs worth trusting; the look usually spans the import of llama.cpp anyway.
MIN_WINDOW_S = 0.05


@dataclass(frozen=True)
class CpuSample:
    at: float  # time.monotonic()
    busy_s: float  # CPU seconds spent not idle, all CPUs of the machine together
    own_s: float  # CPU seconds this process used


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _our_cpus() -> set[int] | None:
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def sample_cpu(stat_path: str = "/proc/stat") -> CpuSample | None:
    """Busy CPU time so far on the CPUs this process may use, or None without /proc/stat (not Linux)."""
    try:
        with open(stat_path, encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    ours = _our_cpus()
    busy_ticks = 0
    seen = False
    for line in lines:
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu" or len(fields) < 6:
            continue
        if ours is not None and int(fields[0][3:]) not in ours:
            continue
        ticks = [int(v) for v in fields[1:9]]
        # user nice system idle iowait irq softirq steal; guest time is already inside user
        busy_ticks += sum(ticks) - ticks[3] - ticks[4]
        seen = True
    if not seen:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    own = os.times()
    return CpuSample(time.monotonic(), busy_ticks / hz, own.user + own.system)


def busy_elsewhere(start: CpuSample, end: CpuSample) -> float:
    """How many cores other programs kept busy between two samples (never negative)."""
    window = end.at - start.at
    if window <= 0:
        return 0.0
    others = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
    return max(0.0, others / window)


def default_threads(cpus: int, busy: float) -> int:
    """Every free core: the CPUs we may use less the cores others hold (rounded), at least one."""
    return max(1, min(cpus, cpus - round(busy)))


def choose_threads(start: CpuSample | None) -> int:
    """The default thread count, looking at the CPUs since `start` (taken when the backend was made)."""
    cpus = available_cpus()
    if start is None or cpus == 1:
        return cpus
    wait = MIN_WINDOW_S - (time.monotonic() - start.at)
    if wait > 0:
        time.sleep(wait)
    end = sample_cpu()
    if end is None:
        return cpus
    return default_threads(cpus, busy_elsewhere(start, end))
