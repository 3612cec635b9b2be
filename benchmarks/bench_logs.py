"""Conversations and `llmctl logs`, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_logs.py [--continue-only]

  * storing an exchange: a usage-log row with its exchange (text, FTS5 index) vs the row alone (< 2 ms)
  * `llmctl logs -q WORD --json` over 100,000 stored exchanges, the whole process, vs `llmctl logs`
    on an empty log (< 0.3 s)
  * `-c` on a 50-turn conversation vs a first turn, through the run layer to a loopback server (< +20 ms)
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_api import LoopbackServer  # noqa: E402

WORDS = ("river frog night moon token budget model answer prompt cost window French longest shortest city "
         "story song water light stone").split()
STORED = 100_000


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def store_and_fill(tmp: Path) -> Path:
    from llmctl.core.usage import Cost, Usage
    from llmctl.providers.registry import resolve_model
    from llmctl.run.conversations import ConversationLink
    from llmctl.run.usage_log import UsageLog

    path = tmp / "data" / "llmctl" / "usage.db"
    ref = resolve_model("openai:gpt-4o-mini")
    usage, cost = Usage(12, 48), Cost(None, None)
    rng = random.Random(7)
    log = UsageLog(path)
    link = ConversationLink("01JF0000000000000000000000")
    log.record_call("complete", ref, usage, cost, 1.0)
    started = time.perf_counter()
    for _ in range(2000):
        log.record_call("complete", ref, usage, cost, 1.0)
    row_alone = (time.perf_counter() - started) / 2000
    started = time.perf_counter()
    made = 0
    while made < STORED:
        if made % 5 == 0:
            link = ConversationLink(f"01JF{made:022d}")
        # One prompt in a thousand names the rare word: a search finds about 100.
        prompt = _text(rng, 12) + (" zorblax" if made % 1000 == 0 else "")
        exchange = link.exchange("complete", ref.label, prompt, {"temperature": 0}, _text(rng, 60))
        log.record_call("complete", ref, usage, cost, 1.0, exchange=exchange)
        made += 1
        if made == 2000:
            with_exchange = (time.perf_counter() - started) / 2000
    log.close()
    print(f"store    one exchange (usage row + text + FTS5): {with_exchange * 1000:.3f} ms vs the usage row alone "
          f"{row_alone * 1000:.3f} ms -> ratio {with_exchange / row_alone:.2f} (target < 2 ms); "
          f"{STORED:,} stored, {path.stat().st_size / 1e6:.0f} MB")
    return tmp / "data"


def _process(args: list[str], data: Path) -> float:
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "llmctl", *args], env=env, capture_output=True, check=True)
    took = time.perf_counter() - started
    return took


def search(data: Path, empty: Path) -> None:
    from llmctl.run.log_query import LogQuery, find_exchanges

    runs = 15
    times: dict[str, list[float]] = {"version": [], "base": [], "rare": [], "common": []}
    for _ in range(runs):  # interleaved, so a busy moment of the machine weighs on each alike
        times["version"].append(_process(["--version"], empty))
        times["base"].append(_process(["logs", "--json"], empty))
        times["rare"].append(_process(["logs", "-q", "zorblax", "--json"], data))
        times["common"].append(_process(["logs", "-q", "river", "--json"], data))
    version, base, rare, common = (statistics.median(times[k]) for k in ("version", "base", "rare", "common"))
    path = data / "llmctl" / "usage.db"
    inside = []
    for _ in range(runs):
        started = time.perf_counter()
        found = find_exchanges(LogQuery(text="river"), path)
        inside.append(time.perf_counter() - started)
    assert len(found) == 10
    print(f"search   logs -q over {STORED:,} exchanges, whole process: rare word {rare * 1000:.0f} ms, common word "
          f"{common * 1000:.0f} ms (target < 300 ms) vs `llmctl logs` on an empty log {base * 1000:.0f} ms and "
          f"`llmctl --version` {version * 1000:.0f} ms -> the search adds {(common - base) * 1000:.0f} ms; "
          f"in-process the query takes {statistics.median(inside) * 1000:.1f} ms")


def _turn(name: str, cid: str | None) -> float:
    from llmctl.core.inputs import InputItem
    from llmctl.providers.base import CompletionRequest
    from llmctl.run import CompleteJob, RunOptions, Session
    from llmctl.run import conversations as conv

    started = time.perf_counter()
    options = conv.ConversationOptions(cid=cid)
    link = conv.begin(options, True)
    template = CompletionRequest("", max_tokens=16)
    if cid is not None and link is not None:
        template = conv.with_history(template, link)
    session = Session(CompleteJob(template), [name], {"max_retries": 0})
    items = [InputItem("and one more question about the rivers", "<bench>")]
    conv.prepare(session, items, link, options, lambda message: None)
    report = session.run(items, lambda *_: None, RunOptions(concurrency=1, use_cache=False))
    assert not report.totals.failed
    return time.perf_counter() - started


def continue_cost(tmp: Path) -> None:
    from llmctl.core.config import get_config
    from llmctl.run import conversations as conv

    with LoopbackServer(0.0) as server:
        config = tmp / "config.toml"
        config.write_text(f'[profiles.loop]\nkind = "openai"\nbase_url = "{server.base_url}"\n\n'
                          '[models.loop.bench]\ncontext_window = 8192\n')
        os.environ["LLMCTL_CONFIG"] = str(config)
        os.environ["XDG_DATA_HOME"] = str(tmp / "turns")
        os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
        get_config.cache_clear()
        _turn("loop:bench", None)  # warm up: client built, connection open
        cid = conv.read_conversation(None).id
        for _ in range(49):
            _turn("loop:bench", cid)
        assert conv.read_conversation(cid).turns == 50
        first, later = [], []
        for _ in range(15):  # interleaved; the conversation grows from 50 to 64 turns
            first.append(_turn("loop:bench", None))
            later.append(_turn("loop:bench", cid))
        first_s, cont = statistics.median(first), statistics.median(later)
    print(f"continue -c on a 50-64-turn conversation: {cont * 1000:.1f} ms vs a first turn {first_s * 1000:.1f} ms "
          f"-> +{(cont - first_s) * 1000:.1f} ms (target < +20 ms)")


def main() -> None:
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["XDG_CONFIG_HOME"] = str(tmp / "config")
        if "--continue-only" not in sys.argv:
            data = store_and_fill(tmp)
            search(data, tmp / "empty")
        continue_cost(tmp)


if __name__ == "__main__":
    main()
