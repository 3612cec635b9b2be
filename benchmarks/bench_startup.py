"""Start-up: `llmctl --help` against a minimal Typer app's, and a one-shot API `complete` against the bare SDK.

Run: .venv/bin/python benchmarks/bench_startup.py [--rounds 15]
Each is a fresh process, alternated round by round; the figure is the median wall time. The
--help baseline is the fastest a Typer CLI can answer --help (two commands, completion on, plain
help as llmctl uses, nothing else imported); the target for llmctl is < 150 ms. The one-shot
baseline is a bare openai-SDK script making the same chat call to the same loopback server
(bench_api's: a canned answer with usage); the target for `llmctl complete` is <= 1.0x.

Every process reads bytecode, as an installed package does: the children write theirs to a cache in a
temporary folder (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE is dropped) on an untimed first run of each
command, so a checkout that was never byte-compiled is not timed compiling its sources.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_api import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = '''import typer
app = typer.Typer(add_completion=True, rich_markup_mode=None)
@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
@app.command()
def bye() -> None:
    """Say bye."""
app()
'''

SDK_SCRIPT = '''import sys
import openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-bench", max_retries=0)
answer = client.chat.completions.create(model="bench", messages=[{"role": "user", "content": "hi"}])
print(answer.choices[0].message.content)
'''


def wall(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"python": [], "typer": [], "llmctl": [], "sdk": [], "complete": []}
    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(0.0) as server:  # a canned chat answer with usage
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL)
        sdk = Path(tmp) / "sdk.py"
        sdk.write_text(SDK_SCRIPT)
        # llmctl's user dirs in the temporary folder: its usage log and cache are written, as a user's are.
        plain = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        plain["PYTHONPYCACHEPREFIX"] = f"{tmp}/pycache"
        env = {**plain, "OPENAI_API_KEY": "sk-bench", "XDG_CONFIG_HOME": f"{tmp}/config",
               "XDG_DATA_HOME": f"{tmp}/data", "XDG_CACHE_HOME": f"{tmp}/cache", "XDG_STATE_HOME": f"{tmp}/state"}
        one_shot = [sys.executable, "-m", "llmctl", "complete", "-m", "openai:bench", "--base-url",
                    server.base_url, "--max-retries", "0", "hi"]
        commands = {"python": ([sys.executable, "-c", "pass"], plain),
                    "typer": ([sys.executable, str(minimal), "--help"], plain),
                    "llmctl": ([sys.executable, "-m", "llmctl", "--help"], plain),
                    "sdk": ([sys.executable, str(sdk), server.base_url], env),
                    "complete": (one_shot, env)}
        for command, command_env in commands.values():
            wall(command, command_env)  # untimed: writes the bytecode the timed runs read
        for _ in range(args.rounds):
            for name, (command, command_env) in commands.items():
                runs[name].append(wall(command, command_env))
    median = {name: statistics.median(times) for name, times in runs.items()}
    print(f"bare python                 {median['python'] * 1000:6.0f} ms")
    print(f"minimal Typer --help        {median['typer'] * 1000:6.0f} ms  (baseline)")
    print(f"llmctl --help               {median['llmctl'] * 1000:6.0f} ms  "
          f"{median['llmctl'] / median['typer']:.2f}x the baseline; target < 150 ms")
    print(f"bare openai-SDK chat call   {median['sdk'] * 1000:6.0f} ms  (baseline)")
    print(f"llmctl complete (one-shot)  {median['complete'] * 1000:6.0f} ms  "
          f"{median['complete'] / median['sdk']:.2f}x the baseline; target <= 1.0x")


if __name__ == "__main__":
    main()
