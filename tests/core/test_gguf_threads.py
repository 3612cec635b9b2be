"""The GGUF thread default: every free core, leaving to other programs the cores they keep busy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmctl.providers.gguf.threads import (
    CpuSample,
    available_cpus,
    busy_elsewhere,
    choose_threads,
    default_threads,
    sample_cpu,
)

linux_only = pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="reads /proc/stat")


@pytest.mark.parametrize(("cpus", "busy", "threads"), [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 2.0, 1), (2, 7.5, 1), (8, 3.2, 5), (1, 0.0, 1), (1, 3.0, 1),
])
def test_default_threads_leaves_busy_cores(cpus: int, busy: float, threads: int) -> None:
    assert default_threads(cpus, busy) == threads


def test_own_cpu_time_is_not_counted_as_someone_elses() -> None:
    start = CpuSample(at=10.0, busy_s=100.0, own_s=1.0)
    end = CpuSample(at=10.5, busy_s=100.9, own_s=1.4)  # 0.9 s busy, 0.4 s of it ours, in 0.5 s
    assert busy_elsewhere(start, end) == pytest.approx(1.0)
    assert busy_elsewhere(start, CpuSample(at=10.5, busy_s=100.2, own_s=1.4)) == 0.0


@linux_only
def test_sample_reads_the_cpus_of_this_process(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    ours = sorted(os.sched_getaffinity(0))
    lines = ["cpu  999 0 999 999 0 0 0 0 0 0"]
    lines += [f"cpu{n} 100 0 50 1000 25 5 5 0 0 0" for n in ours]
    lines += [f"cpu{max(ours) + 1} 90000 0 0 0 0 0 0 0 0 0"]  # a CPU we may not use: not counted
    stat.write_text("\n".join(lines) + "\n")
    sample = sample_cpu(str(stat))
    assert sample is not None
    assert sample.busy_s == pytest.approx(len(ours) * 160 / os.sysconf("SC_CLK_TCK"))
    assert sample_cpu(str(tmp_path / "missing")) is None


@linux_only
def test_a_busy_neighbour_on_every_core_leaves_one_thread() -> None:
    cpus = available_cpus()
    if cpus < 2:
        pytest.skip("needs two CPUs")
    spin = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end:\n    pass\n"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(cpus)]
    try:
        time.sleep(0.3)
        start = sample_cpu()
        time.sleep(0.3)
        assert choose_threads(start) == 1
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()


def test_without_a_first_look_every_cpu_is_used() -> None:
    assert choose_threads(None) == available_cpus()


def test_threads_option_wins_and_the_default_is_chosen_once() -> None:
    from llmctl.providers.gguf import GGUFProvider

    assert GGUFProvider({"threads": 3}).thread_count() == 3
    provider = GGUFProvider({})
    chosen = provider.thread_count()
    assert 1 <= chosen <= available_cpus()
    assert provider.thread_count() == chosen
