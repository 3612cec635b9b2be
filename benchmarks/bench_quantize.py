"""What `llmctl quantize` costs over llama.cpp itself, measured on SmolLM2-135M in one run.

    .venv/bin/python benchmarks/bench_quantize.py [--type q4_k_m] [--threads 2] [--only PART] [--no-larger]

  * re-quantization: llmctl's quantize_gguf (checks, child process, log capture, rename, report)
    vs a program calling llama_model_quantize directly on the same f16 file and type (each in a
    fresh Python process, timing the call alone); best and median wall time of --requantize-repeat runs
    each, interleaved, each kind taking its turn at going first. Target: ratio <= 1.05 (best of
    each: other work on the machine only ever slows a run down). Also shown: the direct call
    repeated in this process, on a heap its earlier calls already faulted in (which no single
    quantization gets).
  * HF -> GGUF f16 conversion: `llmctl quantize DIR --to gguf -t f16` as a user runs it; the peak
    RSS and anonymous memory of its process tree (llmctl and the converter it starts) vs the size
    of the model in f16 (the tensor bytes of the output), and the converter's exact peak RSS next
    to that of a process that only imports it (torch and all). Target: <= 1.5. Run on SmolLM2 and
    on a ~320M random-weight Llama built here (same converter path; --no-larger skips it), because
    the converter's import is a fixed cost that dominates a 135M model.
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
import shutil
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


def _tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(child) for child in children)
    return found


def _memory(pids: list[int]) -> tuple[int, int]:
    """(RSS, anonymous RSS) summed over `pids`, in bytes."""
    rss = anon = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        anon += int(fields.get("RssAnon", "0 kB").split()[0]) * 1024
    return rss, anon


def measure_conversion(hf_dir: Path, out: Path) -> dict[str, float]:
    """`llmctl quantize DIR --to gguf -t f16 -o OUT` as a user runs it: the peak RSS and anonymous
    memory of its whole process tree (llmctl and the converter it starts), summed and polled every
    10 ms, and the converter's exact peak RSS from the kernel (ru_maxrss of the children)."""
    cmd = [sys.executable, "-m", "llmctl", "quantize", str(hf_dir), "--to", "gguf", "-t", "f16", "-o", str(out)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss = anon = 0
    while proc.poll() is None:
        now_rss, now_anon = _memory(_tree(proc.pid))
        rss, anon = max(rss, now_rss), max(anon, now_anon)
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, f"llmctl quantize failed on {hf_dir}"
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    again = out.with_name(out.stem + "-again.gguf")
    child = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "convert_hf_to_gguf", str(hf_dir),
                            "--outfile", str(again), "--outtype", "f16"], capture_output=True, text=True, check=True)
    again.unlink()
    f16_bytes = read_tensor_table(out).tensor_bytes
    return {"seconds": seconds, "f16": f16_bytes, "tree_rss": rss, "tree_anon": anon,
            "converter_maxrss": int(child.stdout.split()[-1]) * 1024,
            "vocab_only_maxrss": vocab_only_rss(hf_dir, out.with_name(out.stem + "-vocab.gguf"))}


def vocab_only_rss(hf_dir: Path, out: Path) -> int:
    """Peak RSS of the converter writing only the header and the vocabulary (`--vocab-only`): what
    it costs before it reads a single weight, however the tensors were then handled."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    child = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "convert_hf_to_gguf", str(hf_dir),
                            "--outfile", str(out), "--outtype", "f16", "--vocab-only"],
                           capture_output=True, text=True, check=True)
    out.unlink()
    return int(child.stdout.split()[-1]) * 1024


def import_floor_rss() -> int:
    """Peak RSS of a process that imports the converter and does nothing else."""
    code = ("import resource, convert_hf_to_gguf, conversion; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) * 1024


def build_larger_llama(dest: Path, tokenizer_from: Path, hidden: int = 1024, layers: int = 24) -> Path:
    """A random-weight Llama (fp32 safetensors, SmolLM2's tokenizer and vocabulary) of ~320M parameters:
    the same converter path as SmolLM2 at a size where the fixed cost of importing torch no longer
    dominates. Only its memory is of interest; its weights mean nothing."""
    import json
    import shutil

    import numpy as np
    from safetensors.numpy import save_file

    dest.mkdir(parents=True, exist_ok=True)
    config = json.loads((tokenizer_from / "config.json").read_text(encoding="utf-8"))
    heads, kv_heads, ffn = hidden // 64, max(hidden // 256, 1), hidden * 11 // 4
    config.update(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  num_key_value_heads=kv_heads, intermediate_size=ffn, head_dim=64)
    config.pop("_model_name_or_path", None)
    (dest / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        if (tokenizer_from / name).exists():
            shutil.copy(tokenizer_from / name, dest / name)
    rng = np.random.default_rng(0)

    def weight(rows: int, cols: int) -> np.ndarray:
        return rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.02)

    tensors = {"model.embed_tokens.weight": weight(config["vocab_size"], hidden),
               "model.norm.weight": np.ones(hidden, np.float32)}
    for i in range(layers):
        at = f"model.layers.{i}."
        tensors.update({
            at + "self_attn.q_proj.weight": weight(heads * 64, hidden),
            at + "self_attn.k_proj.weight": weight(kv_heads * 64, hidden),
            at + "self_attn.v_proj.weight": weight(kv_heads * 64, hidden),
            at + "self_attn.o_proj.weight": weight(hidden, heads * 64),
            at + "mlp.gate_proj.weight": weight(ffn, hidden), at + "mlp.up_proj.weight": weight(ffn, hidden),
            at + "mlp.down_proj.weight": weight(hidden, ffn),
            at + "input_layernorm.weight": np.ones(hidden, np.float32),
            at + "post_attention_layernorm.weight": np.ones(hidden, np.float32)})
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return dest


def report_conversion(label: str, figures: dict[str, float], floor: int) -> None:
    f16, mib = figures["f16"], 2**20
    vocab = figures["vocab_only_maxrss"]
    print(f"\nHF -> GGUF f16, {label}: {figures['seconds']:.1f} s; f16 model {f16 / mib:.0f} MiB\n"
          f"  llmctl + converter, peak RSS {figures['tree_rss'] / mib:.0f} MiB: {figures['tree_rss'] / f16:.2f}x "
          f"(target <= 1.5x); peak anonymous memory {figures['tree_anon'] / mib:.0f} MiB: "
          f"{figures['tree_anon'] / f16:.2f}x\n"
          f"  the converter alone, exact peak RSS {figures['converter_maxrss'] / mib:.0f} MiB: "
          f"{figures['converter_maxrss'] / f16:.2f}x, of which {floor / mib:.0f} MiB is importing it (torch)\n"
          f"  the converter writing the header and vocabulary only (--vocab-only, no weight read): "
          f"{vocab / mib:.0f} MiB, {vocab / f16:.2f}x")


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
    parser.add_argument("--repeat", type=int, default=3, help="perplexity passes (best of)")
    parser.add_argument("--requantize-repeat", type=int, default=15,
                        help="re-quantizations of each kind (median; the machine's noise is a few percent)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--no-larger", dest="larger", action="store_false",
                        help="skip the conversion of a ~320M random Llama (1.3 GB of scratch disk)")
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
        convert_hf_to_gguf(hf_dir, f16, "f16")
        if "convert" in parts:
            floor = import_floor_rss()
            smol = measure_conversion(hf_dir, scratch / "smol.gguf")
            report_conversion("SmolLM2-135M (fp32 safetensors)", smol, floor)
            if args.larger:
                larger = build_larger_llama(scratch / "larger-llama", hf_dir)
                report_conversion("a random-weight Llama of 321M parameters (same converter path)",
                                  measure_conversion(larger, scratch / "larger.gguf"), floor)
                shutil.rmtree(larger)
        if "requantize" in parts:
            requantize(f16, qtype, args.requantize_repeat, args.threads, scratch)
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


def fresh_llmctl_quantize(source: Path, output: Path, qtype: str, threads: int) -> tuple[float, float]:
    """llmctl's quantize_gguf called once by a new Python process, timed around the call alone, as
    the direct call is: (its wall time, the llama.cpp call's time inside its child)."""
    code = ("import sys, time\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from llmctl.quantize.gguf_quant import quantize_gguf\n"
            "from llmctl.quantize.types import parse_types\n"
            f"qtype = parse_types({qtype!r})[0]\n"
            "t = time.perf_counter()\n"
            f"result = quantize_gguf({str(source)!r}, {str(output)!r}, qtype, threads={threads})\n"
            "print(time.perf_counter() - t, result.quantizer_seconds)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed, call = done.stdout.split()
    return float(elapsed), float(call)


def requantize(f16: Path, qtype: QuantType, repeat: int, threads: int, scratch: Path) -> None:
    ours, fresh, warm = [], [], []
    direct_quantize(f16, scratch / "warm-up.gguf", qtype.ftype, threads)  # this process's heap, warmed
    inside: list[float] = []

    def run_ours(out: Path) -> float:
        elapsed, call = fresh_llmctl_quantize(f16, out, qtype.name, threads)
        inside.append(elapsed / call)
        return elapsed

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
    med = {name: statistics.median(times) for name, times in (("fresh", fresh), ("warm", warm), ("ours", ours))}
    best = {name: min(times) for name, times in (("fresh", fresh), ("warm", warm), ("ours", ours))}
    print(f"\nre-quantize f16 -> {qtype.name}, {repeat} runs each, interleaved (best / median):\n"
          f"  llama_model_quantize called once by a fresh process (the call alone): "
          f"{best['fresh']:.3f} / {med['fresh']:.3f} s\n"
          f"  llmctl quantize_gguf called once by a fresh process (the call alone: checks, forked child, progress, "
          f"output table, rename): "
          f"{best['ours']:.3f} / {med['ours']:.3f} s\n"
          f"  ratio, best of each: {best['ours'] / best['fresh']:.3f}x (target <= 1.05x); "
          f"of the medians: {med['ours'] / med['fresh']:.3f}x\n"
          f"  llmctl's own share, run by run (its wall time / the llama.cpp call inside its child): median "
          f"{statistics.median(inside):.3f}x, range {min(inside):.3f}-{max(inside):.3f}x\n"
          f"  (llama_model_quantize again in this process, its heap already faulted in by earlier calls: "
          f"{best['warm']:.3f} / {med['warm']:.3f} s; llmctl {best['ours'] / best['warm']:.3f}x / "
          f"{med['ours'] / med['warm']:.3f}x that)")


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
