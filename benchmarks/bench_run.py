"""The run layer's costs, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_run.py

Loopback servers in child processes answer after a fixed delay (benchmarks/bench_api.py's server).
  * compare mode: two models at once (100 ms and 300 ms servers) vs the slowest model alone (<= 1.1x)
  * N=500 prompts at C=16 against the 50 ms server vs ceil(N/C)*L (<= 1.15x)
  * --resume over a 100,000-record output file: time until the first request reaches the server (<= 2 s)
  * a cache hit, through the whole run layer (one input, one model) (< 5 ms)
  * one usage-log row (< 1 ms)
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_api import LoopbackServer  # noqa: E402


def _setup(tmp: Path, profiles: dict[str, str]) -> None:
    config = tmp / "config.toml"
    config.write_text("".join(f'[profiles.{name}]\nkind = "openai"\nbase_url = "{url}"\n\n'
                              for name, url in profiles.items()))
    os.environ["LLMCTL_CONFIG"] = str(config)
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    from llmctl.core.config import get_config

    get_config.cache_clear()


def _session(names: list[str], concurrency: int = 16, **template: Any) -> Any:
    from llmctl.providers.base import CompletionRequest
    from llmctl.run import CompleteJob, Session

    return Session(CompleteJob(CompletionRequest("", **template)), names,
                   {"concurrency": concurrency, "max_retries": 0})


def _items(n: int) -> list[Any]:
    from llmctl.core.inputs import InputItem

    return [InputItem(f"prompt {i}", "<bench>", i + 1, {"id": i}) for i in range(n)]


def _run(session: Any, items: list[Any], **options: Any) -> float:
    from llmctl.run import RunOptions

    started = time.perf_counter()
    report = session.run(items, lambda *_: None, RunOptions(concurrency=16, use_cache=False, **options))
    took = time.perf_counter() - started
    if report.totals.failed:
        raise SystemExit(f"{report.totals.failed} records failed")
    return took


def compare_mode(tmp: Path) -> None:
    with LoopbackServer(0.1) as fast, LoopbackServer(0.3) as slow:
        _setup(tmp, {"fast": fast.base_url, "slow": slow.base_url})
        items = _items(1)
        both = _session(["fast:bench", "slow:bench"])
        alone = _session(["slow:bench"])
        _run(both, items)  # warm up: clients built, connections open
        _run(alone, items)
        together = statistics.median(_run(both, items) for _ in range(7))
        slowest = statistics.median(_run(alone, items) for _ in range(7))
    print(f"compare  2 models (100 ms, 300 ms): {together * 1000:.0f} ms vs slowest alone {slowest * 1000:.0f} ms "
          f"-> ratio {together / slowest:.3f} (target <= 1.10)")


def concurrency_bound(tmp: Path, n: int = 500, c: int = 16, delay: float = 0.05) -> None:
    from bench_api import batch_seconds

    from llmctl.providers.base import CompletionRequest

    with LoopbackServer(delay) as server:
        _setup(tmp, {"loop": server.base_url})
        session = _session(["loop:bench"], concurrency=c)
        _run(session, _items(c))
        took = _run(session, _items(n))
        # The same requests through the provider and core.batch alone: what the layer adds on top.
        ref, provider = session.targets[0].ref, session.targets[0].provider
        bare = batch_seconds(n, c, lambda i: provider.complete(ref, CompletionRequest(f"prompt {i}")))
    ideal = math.ceil(n / c) * delay
    print(f"batch    N={n} C={c} L={delay * 1000:.0f} ms: {took:.2f} s vs ceil(N/C)*L {ideal:.2f} s "
          f"-> ratio {took / ideal:.3f} (target <= 1.15); the provider alone: {bare:.2f} s "
          f"(ratio {bare / ideal:.3f}), so the run layer adds {took / bare:.3f}x")


def resume_start(tmp: Path, n: int = 100_000) -> None:
    from llmctl.run import RunOptions

    with LoopbackServer(0.0) as server:
        _setup(tmp, {"loop": server.base_url})
        session = _session(["loop:bench"])
        items = _items(n + 1)
        out = tmp / "resume.jsonl"
        record = {"model": "loop:bench", "text": "ok", "finish_reason": "stop", "usage": {"input_tokens": 3},
                  "cost": None, "latency_ms": 1.0, "error": None}
        with out.open("w") as fh:
            for i in range(n):
                fh.write(json.dumps({"id": i, **record}) + "\n")
        (tmp / "resume.jsonl.run.json").write_text(json.dumps(session.description()))
        first: list[float] = []
        from llmctl.run import runner

        original = runner._call

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if not first:
                first.append(time.perf_counter())
            return original(*args, **kwargs)

        runner._call = timed_call  # type: ignore[assignment]
        started = time.perf_counter()
        report = session.run(items, lambda *_: None, RunOptions(output=str(out), resume=True, use_cache=False))
        runner._call = original  # type: ignore[assignment]
        assert report.totals.count == 1, report.totals.count
    print(f"resume   over {n:,} records: first request after {first[0] - started:.2f} s (target <= 2 s)")


def cache_and_log(tmp: Path) -> None:
    from llmctl.core.usage import Cost, Usage
    from llmctl.run import RunOptions
    from llmctl.run.usage_log import UsageLog

    with LoopbackServer(0.0) as server:
        _setup(tmp, {"loop": server.base_url})
        session = _session(["loop:bench"], temperature=0)
        items = _items(500)
        session.run(items, lambda *_: None, RunOptions(concurrency=1))  # stored
        started = time.perf_counter()
        report = session.run(items, lambda *_: None, RunOptions(concurrency=1))
        hits = time.perf_counter() - started
        assert report.totals.by_model["loop:bench"].cached == len(items)
        sent = _run(session, items)
    print(f"cache    {len(items)} hits through the run layer (log included): {hits / len(items) * 1000:.2f} ms a hit "
          f"(target < 5 ms); sent without the cache at C=16: {sent / len(items) * 1000:.2f} ms each")

    log = UsageLog(tmp / "bench-usage.db")
    log.run = "bench"  # as with -o: each row also names its run and record
    ref = session.targets[0].ref
    usage, cost = Usage(12, 48), Cost(None, None)
    log.record_call("complete", ref, usage, cost, 1.0)
    started = time.perf_counter()
    for i in range(2000):
        log.record_call("complete", ref, usage, cost, 1.0, records=[(ref.label, f"id:{i}")])
    per_call = (time.perf_counter() - started) / 2000
    log.close()
    print(f"log      one usage row (with -o's run and record): {per_call * 1000:.3f} ms (target < 1 ms)")


def main() -> None:
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        compare_mode(tmp)
        concurrency_bound(tmp)
        resume_start(tmp)
        cache_and_log(tmp)


if __name__ == "__main__":
    main()
