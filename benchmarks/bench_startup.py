"""Start-up with shell completion on: `llmctl --help` against a minimal Typer app's `--help`.

Run: .venv/bin/python benchmarks/bench_startup.py [--rounds 15]
Each is a fresh process, alternated round by round; the figure is the median wall time. The
baseline is the fastest a Typer CLI can answer --help (two commands, completion on, plain help as
llmctl uses, nothing else imported); the target for llmctl is < 150 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def wall(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal.py"
        minimal.write_text(MINIMAL)
        runs: dict[str, list[float]] = {"python": [], "typer": [], "llmctl": []}
        for _ in range(args.rounds):
            runs["python"].append(wall([sys.executable, "-c", "pass"]))
            runs["typer"].append(wall([sys.executable, str(minimal), "--help"]))
            runs["llmctl"].append(wall([sys.executable, "-m", "llmctl", "--help"]))
    median = {name: statistics.median(times) for name, times in runs.items()}
    print(f"bare python                 {median['python'] * 1000:6.0f} ms")
    print(f"minimal Typer --help        {median['typer'] * 1000:6.0f} ms  (baseline)")
    print(f"llmctl --help               {median['llmctl'] * 1000:6.0f} ms  "
          f"{median['llmctl'] / median['typer']:.2f}x the baseline; target < 150 ms")


if __name__ == "__main__":
    main()
