"""Tokenize speed: llmctl against ttok and the reference tokenizers, measured in the same run.

    python benchmarks/bench_tokenize.py [--size-mb 200] [--runs 15]

Prints, for each target of the foundation issue, the figures and the ratio:
  1. `llmctl --help` wall time, and that it imports no heavy library;
  2. `llmctl tokenize -m openai:gpt-4o hello` against `ttok -m gpt-4o hello` (target <= 0.6x);
  3. counting a SIZE MB text file: llmctl against ttok, wall time and peak memory (target >= 3x
     faster, < 400 MB), and llmctl's count against tiktoken's count of the whole text (must be equal);
  4. Mistral (tekken) counting of the same file against the fastest public way to get the same
     count, measured here and named in the output: mistral-common's encode of the whole text,
     tiktoken's encode_to_numpy of the whole text (tekken is a tiktoken encoding; no Python list),
     or tiktoken's encode_ordinary_batch over the same pieces llmctl cuts, on as many threads as
     llmctl uses (target >= 1.0x).
ttok needs tiktoken's download cache; it is filled here from the same verified bundled files.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
WORDS = ("the of and to in is was for on that with as by at from it this be are or an were which have not "
         "tokenizer model context window price request response stream batch latency throughput").split()


def make_corpus(path: Path, size_mb: int, seed: int = 7) -> None:
    """Varied text: prose, code, CJK, emoji, numbers and long whitespace runs, no special tokens."""
    if path.exists() and path.stat().st_size >= size_mb * 1_000_000:
        return
    rng = random.Random(seed)
    blocks = [
        "def handler(event, context):\n    return {'status': 200, 'body': json.dumps(event)}\n\n",
        "日本語の文章と中文的句子，还有한국어 문장도 있습니다。\n",
        "Emoji 😀👍🏽 and flags 🇫🇷 in between words.\n",
        "    \t    indented      with     runs of      spaces\n\n\n",
        "Numbers 3.14159 2,718,281 0x7fff 1e-9 and dates 2026-11-26.\n",
        "Ünïcödé àccents, Ελληνικά, кириллица, עברית, हिन्दी.\n",
    ]
    with path.open("w", encoding="utf-8") as fh:
        written = 0
        while written < size_mb * 1_000_000:
            if rng.random() < 0.15:
                chunk = rng.choice(blocks)
            else:
                n = rng.randint(5, 40)
                words = [rng.choice(WORDS) for _ in range(n)]
                words[0] = words[0].capitalize()
                chunk = " ".join(words) + rng.choice([". ", ".\n", "!\n", "? ", ".\n\n"])
            fh.write(chunk)
            written += len(chunk.encode())


def prepare_ttok_cache(cache: Path) -> None:
    from llmctl.providers.openai.vocab import bundled_vocab_file

    cache.mkdir(parents=True, exist_ok=True)
    for name in ("o200k_base", "cl100k_base"):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        target = cache / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            target.write_bytes(gzip.decompress(bundled_vocab_file(name).read_bytes()))


def best_wall(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def _tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    total = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{pid}/task/{pid}/children") as fh:
                stack.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def wall_and_peak(cmd: list[str], env: dict[str, str], stdin: Path | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory in MB of the whole process tree (sampled every 10 ms,
    children included), and stdout of one run."""
    t0 = time.perf_counter()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as fin, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdin=fin, stdout=out, stderr=subprocess.DEVNULL, env=env)
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, _tree_rss_kb(proc.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds, peak_kb / 1024, text.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    llmctl, ttok = str(BIN / "llmctl"), str(BIN / "ttok")
    if not Path(ttok).exists():
        raise SystemExit("ttok is not installed in this environment: pip install ttok")
    work = Path(tempfile.mkdtemp(prefix="llmctl-bench-"))
    env = dict(os.environ, TIKTOKEN_CACHE_DIR=str(work / "tiktoken"), XDG_CACHE_HOME=str(work / "cache"))
    prepare_ttok_cache(work / "tiktoken")
    subprocess.run([llmctl, "tokenize", "-m", "openai:gpt-4o", "warm"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # build the rank index once
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")

    help_s = best_wall([llmctl, "--help"], args.runs, env)
    probe = ("import sys; sys.argv=['llmctl','--help']\nfrom llmctl.cli.app import app\n"
             "try:\n app(prog_name='llmctl')\nexcept SystemExit: pass\n"
             "print('|'+','.join(m for m in ('torch','transformers','llama_cpp','openai','mistralai') "
             "if m in sys.modules))")
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env).stdout
    heavy_list = heavy.strip().splitlines()[-1].lstrip("|") or "none"
    print(f"llmctl --help: {help_s * 1000:.0f} ms (target < 150 ms); heavy imports: {heavy_list}")

    ours = best_wall([llmctl, "tokenize", "-m", "openai:gpt-4o", "hello"], args.runs, env)
    theirs = best_wall([ttok, "-m", "gpt-4o", "hello"], args.runs, env)
    print(f"tokenize hello: llmctl {ours * 1000:.0f} ms, ttok {theirs * 1000:.0f} ms, "
          f"ratio {ours / theirs:.2f}x (target <= 0.60x)")

    corpus = HERE / "data" / f"corpus-{args.size_mb}mb.txt"
    corpus.parent.mkdir(exist_ok=True)
    make_corpus(corpus, args.size_mb)
    size = corpus.stat().st_size / 1e6
    ours_s, ours_mb, ours_out = wall_and_peak([llmctl, "tokenize", "-q", "-m", "openai:gpt-4o", "-f",
                                               str(corpus)], env)
    pipe_s, pipe_mb, pipe_out = wall_and_peak([llmctl, "tokenize", "-q", "-m", "openai:gpt-4o"], env, stdin=corpus)
    ttok_s, ttok_mb, ttok_out = wall_and_peak([ttok, "-m", "gpt-4o", "-i", str(corpus)], env)
    print(f"count {size:.0f} MB file: llmctl {ours_s:.2f} s {ours_mb:.0f} MB peak (all processes); ttok "
          f"{ttok_s:.2f} s {ttok_mb:.0f} MB peak; speed-up {ttok_s / ours_s:.2f}x (target >= 3x, < 400 MB)")
    print(f"count {size:.0f} MB on stdin: llmctl {pipe_s:.2f} s {pipe_mb:.0f} MB peak; speed-up "
          f"{ttok_s / pipe_s:.2f}x")
    same = ours_out == ttok_out == pipe_out.strip()
    print(f"counts: llmctl file {ours_out}, llmctl stdin {pipe_out}, ttok (tiktoken, whole text) {ttok_out}, "
          f"{'EQUAL' if same else 'DIFFERENT'}")

    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    probe = (f"import time,sys\nfrom mistral_common.tokens.tokenizers.mistral import MistralTokenizer\n"
             f"from llmctl.tokencount.tiktoken_pieces import safe_cut, STREAM_PIECE_BYTES\n"
             f"tok=MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer\nenc=tok._model\n"
             f"def pieces(data):\n"
             f"    out=[];start=0\n"
             f"    while start<len(data):\n"
             f"        end=min(len(data),start+STREAM_PIECE_BYTES)\n"
             f"        cut=safe_cut(data[start:end]) if end<len(data) else end-start\n"
             f"        cut=cut if cut>0 else end-start\n"
             f"        out.append(data[start:start+cut].decode('utf-8'));start+=cut\n"
             f"    return out\n"
             f"def direct():\n text=open({str(corpus)!r},encoding='utf-8').read()\n"
             f" return len(tok.encode(text,bos=False,eos=False))\n"
             f"def numpy_whole():\n text=open({str(corpus)!r},encoding='utf-8').read()\n"
             f" return len(enc.encode_to_numpy(text))\n"
             f"def batch():\n data=open({str(corpus)!r},'rb').read()\n"
             f" return sum(len(i) for i in enc.encode_ordinary_batch(pieces(data),num_threads={workers}))\n"
             f"for name,fn in (('mistral-common encode (whole text)',direct),"
             f"('tiktoken encode_to_numpy (whole text)',numpy_whole),"
             f"('tiktoken encode_ordinary_batch ({workers} threads, same pieces)',batch)):\n"
             f"    best=1e9\n"
             f"    for _ in range(2):\n"
             f"        t=time.perf_counter();n=fn();best=min(best,time.perf_counter()-t)\n"
             f"    print(f'{{n}}\\t{{best}}\\t{{name}}')")
    ref_out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    baselines = [line.split("\t") for line in ref_out.stdout.strip().splitlines()]
    probe_ours = (f"import time\nfrom llmctl.providers.mistral.tokens import tokenizer_for_version\n"
                  f"tok=tokenizer_for_version('tekken');tok._tokenizer()\nbest=1e9\n"
                  f"for _ in range(2):\n"
                  f"    t=time.perf_counter()\n"
                  f"    with open({str(corpus)!r},'rb') as fh: n=tok.count_stream(fh,'c')\n"
                  f"    best=min(best,time.perf_counter()-t)\n"
                  f"print(n, best)")
    our_out = subprocess.run([sys.executable, "-c", probe_ours], capture_output=True, text=True, env=env,
                             check=True)
    our_n, our_s = our_out.stdout.split()
    for n, seconds, name in baselines:
        print(f"  tekken baseline: {name}: {float(seconds):.2f} s ({n} tokens)")
    ref_n, ref_s, ref_name = min(baselines, key=lambda b: float(b[1]))
    same = all(n == our_n for n, _, _ in baselines)
    print(f"mistral tekken count {size:.0f} MB: llmctl {float(our_s):.2f} s, fastest baseline ({ref_name}) "
          f"{float(ref_s):.2f} s, throughput ratio {float(ref_s) / float(our_s):.2f}x (target >= 1.0x); "
          f"counts {'EQUAL' if same else 'DIFFERENT'} ({our_n})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
