"""What `llmctl quantize` costs over llama.cpp itself, measured on SmolLM2-135M in one run.

    .venv/bin/python benchmarks/bench_quantize.py [--type q4_k_m] [--repeat 3] [--threads 2]

  * re-quantization: llmctl's quantize_gguf (checks, child process, log capture, rename, report)
    vs a program calling llama_model_quantize directly on the same f16 file and type (a fresh
    Python process, timing the call alone); median wall time of --repeat runs each, interleaved.
    Target: ratio <= 1.05. Also shown: the direct call repeated in this process, which runs on a
    heap its earlier calls already faulted in (no single quantization gets that).
  * HF -> GGUF f16 conversion: peak resident memory of the converter process vs the size of the
    model in f16 (the tensor bytes of its f16 output). Also shown: the peak of a process that only
    imports the converter (torch and all), and the ratio above that fixed floor. Target: <= 1.5.
  * perplexity pass: tokens/s of llmctl's pass (logits kept, log-softmax in numpy) vs llama.cpp
    evaluating the same tokens in the same windows with every position's logits computed (what a
    perplexity needs; the baseline), best of --repeat each. Target: ratio >= 0.9. Also shown: the
    same evaluation without logits, which no perplexity can use.

The SmolLM2 HF folder is the test suite's (built from the embedded GGUF once, then cached).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from llmctl.quantize.convert import convert_hf_to_gguf  # noqa: E402
from llmctl.quantize.evaluate import open_scorer, perplexity_pass, tokenize_for_eval, windows  # noqa: E402
from llmctl.quantize.gguf_quant import quantize_gguf  # noqa: E402
from llmctl.quantize.tensors import read_tensor_table  # noqa: E402
from llmctl.quantize.types import QuantType, parse_types  # noqa: E402


def direct_quantize(source: Path, output: Path, ftype: int, threads: int) -> float:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = ftype
    started = time.perf_counter()
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(output).encode(), ctypes.byref(params))
    elapsed = time.perf_counter() - started
    assert rc == 0, "llama_model_quantize failed"
    return elapsed


def converter_anon_peak(hf_dir: Path, out: Path) -> tuple[int, int]:
    """(peak RssAnon, peak RssFile) of the converter writing f16, polled from /proc every 20 ms.

    Resident file pages are the mmapped safetensors being read: the kernel drops them under
    pressure, so the anonymous peak is what the conversion needs."""
    proc = subprocess.Popen([sys.executable, "-m", "convert_hf_to_gguf", str(hf_dir), "--outfile", str(out),
                             "--outtype", "f16"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    anon = file = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        anon = max(anon, int(fields.get("RssAnon", "0 kB").split()[0]) * 1024)
        file = max(file, int(fields.get("RssFile", "0 kB").split()[0]) * 1024)
        time.sleep(0.02)
    assert proc.wait() == 0
    return anon, file


def import_floor_rss() -> int:
    """Peak RSS of a process that imports the converter and does nothing else."""
    code = ("import resource, convert_hf_to_gguf, conversion; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) * 1024


def baseline_pass(llm: object, tokens: list[int], context: int) -> float:
    """llama.cpp evaluating the windows llmctl's pass uses, nothing else: tokens/s over the scored tokens."""
    scored = 0
    started = time.perf_counter()
    for start, end, first in windows(len(tokens), context, context):
        llm.reset()  # type: ignore[attr-defined]
        llm.eval(tokens[start:end])  # type: ignore[attr-defined]
        scored += max(end - start - first, 0)
    return scored / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--type", default="q4_k_m")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--only", choices=("convert", "requantize", "perplexity"), help="run one part")
    args = parser.parse_args()
    parts = {args.only} if args.only else {"convert", "requantize", "perplexity"}
    from smollm2_hf import build_smollm2_hf

    cache = Path(os.environ.get("LLMCTL_TEST_CACHE", "/tmp/llmctl-test-cache"))
    hf_dir = build_smollm2_hf(cache / "smollm2-hf")
    qtype = parse_types(args.type)[0]
    print(f"machine: {os.cpu_count()} CPUs, threads={args.threads}; model: SmolLM2-135M ({hf_dir})")

    with tempfile.TemporaryDirectory(prefix="bench-quantize-") as scratch_name:
        scratch = Path(scratch_name)
        f16 = scratch / "smollm2-f16.gguf"
        converted = convert_hf_to_gguf(hf_dir, f16, "f16")
        table = read_tensor_table(f16)
        floor = import_floor_rss()
        f16_bytes = table.tensor_bytes
        if "convert" in parts:
            peak_mib = converted.peak_rss_bytes / 2**20
            print(f"\nHF -> GGUF f16: {converted.seconds:.1f} s; converter peak RSS {peak_mib:.0f} MiB "
                  f"vs f16 model {f16_bytes / 2**20:.0f} MiB: {converted.peak_rss_bytes / f16_bytes:.2f}x "
                  f"(target <= 1.5x); import-only floor {floor / 2**20:.0f} MiB, above it: "
                  f"{(converted.peak_rss_bytes - floor) / f16_bytes:.2f}x")
            anon, file = converter_anon_peak(hf_dir, scratch / "again-f16.gguf")
            print(f"  converter peak anonymous memory {anon / 2**20:.0f} MiB: {anon / f16_bytes:.2f}x the f16 model; "
                  f"peak resident file pages (the mmapped source) {file / 2**20:.0f} MiB")
        if "requantize" in parts:
            requantize(f16, qtype, args.repeat, args.threads, scratch)
        if "perplexity" in parts:
            perplexity(f16, args.context, args.repeat, args.threads)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\n(this process peaked at {peak:.0f} MiB)")


def fresh_direct_quantize(source: Path, output: Path, ftype: int, threads: int) -> float:
    """llama_model_quantize called once by a new Python process (as any program calling it directly
    would), timed around the call alone: the interpreter start and the llama_cpp import are left out."""
    code = ("import ctypes, sys, time, llama_cpp\n"
            "p = llama_cpp.llama_model_quantize_default_params()\n"
            f"p.nthread = {threads}\np.ftype = {ftype}\n"
            f"src, dst = {str(source).encode()!r}, {str(output).encode()!r}\n"
            "t = time.perf_counter()\n"
            "rc = llama_cpp.llama_model_quantize(src, dst, ctypes.byref(p))\n"
            "print(time.perf_counter() - t, rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, rc = done.stdout.split()
    assert rc == "0", "llama_model_quantize failed"
    return float(seconds)


def requantize(f16: Path, qtype: QuantType, repeat: int, threads: int, scratch: Path) -> None:
    ours, fresh, warm = [], [], []
    direct_quantize(f16, scratch / "warm-up.gguf", qtype.ftype, threads)  # this process's heap, warmed
    def run_ours(out: Path) -> float:
        started = time.perf_counter()
        quantize_gguf(f16, out, qtype, threads=threads)
        return time.perf_counter() - started

    runs = [(fresh, lambda out: fresh_direct_quantize(f16, out, qtype.ftype, threads)),
            (warm, lambda out: direct_quantize(f16, out, qtype.ftype, threads)), (ours, run_ours)]
    for i in range(repeat):
        outputs = []
        for k in range(len(runs)):  # each takes its turn at going first: the page cache and writeback vary
            times, run = runs[(i + k) % len(runs)]
            outputs.append(scratch / f"run{i}-{k}.gguf")
            times.append(run(outputs[-1]))
        assert len({path.stat().st_size for path in outputs}) == 1
        for path in outputs:
            path.unlink()
    f, w, o = statistics.median(fresh), statistics.median(warm), statistics.median(ours)
    print(f"\nre-quantize f16 -> {qtype.name}, median of {repeat}, interleaved:\n"
          f"  llama_model_quantize called once by a fresh process (the call alone): {f:.3f} s\n"
          f"  llmctl quantize_gguf (checks, forked child, progress, rename, output table): {o:.3f} s: "
          f"ratio {o / f:.3f}x (target <= 1.05x)\n"
          f"  (llama_model_quantize again in this process, its heap already faulted in by earlier calls: "
          f"{w:.3f} s; llmctl {o / w:.3f}x that)")


def perplexity(f16: Path, context: int, repeat: int, threads: int) -> None:
    from llmctl.providers.gguf.engine import open_llama

    text = (ROOT / "README.md").read_text(encoding="utf-8") * 2
    ours = open_scorer(f16, context, threads)
    settings = {"n_ctx": context, "n_batch": context, "n_ubatch": context, "n_threads": threads,
                "n_threads_batch": threads}
    with_logits = open_llama(str(f16), logits_all=True, **settings)
    bare = open_llama(str(f16), logits_all=False, **settings)
    tokens = tokenize_for_eval(ours, text, context)[: context * 4]
    best = {"ours": 0.0, "logits": 0.0, "bare": 0.0}
    for _ in range(repeat):  # interleaved, so a busy moment on the machine hits all three alike
        _, scored, seconds, _ = perplexity_pass(ours, tokens, context, context)
        best["ours"] = max(best["ours"], scored / seconds)
        best["logits"] = max(best["logits"], baseline_pass(with_logits, tokens, context))
        best["bare"] = max(best["bare"], baseline_pass(bare, tokens, context))
    for llm in (ours, with_logits, bare):
        llm.close()
    print(f"\nperplexity pass over {len(tokens)} tokens, context {context}, best of {repeat}: llmctl "
          f"{best['ours']:.0f} tok/s, llama.cpp evaluating the same windows with every position's logits "
          f"{best['logits']:.0f} tok/s: ratio {best['ours'] / best['logits']:.3f}x (target >= 0.9x); without "
          f"logits (no perplexity possible) {best['bare']:.0f} tok/s: {best['ours'] / best['bare']:.3f}x")


if __name__ == "__main__":
    main()
