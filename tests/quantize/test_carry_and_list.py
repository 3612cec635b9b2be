"""An alias's defaults travel into its quantized GGUF; a re-quantization that grows warns; --help names the
default output; `--list` agrees with llama.cpp and with itself; `--type` completes.

Outputs are read with the `gguf` package's own reader; the type constants are llama_cpp's and gguf's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import gguf
import llama_cpp
import numpy as np
import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.providers.defaults import model_defaults
from llmctl.providers.gguf import GGUFProvider
from llmctl.providers.registry import resolve_model
from llmctl.quantize.gguf_quant import quantize_gguf
from llmctl.quantize.types import available_types

from .conftest import ROOT, SMOLLM2, run_cli

runner = CliRunner()

#: llama.cpp's own bits-per-weight figures (tools/quantize/quantize.cpp, QUANT_OPTIONS), for the types
#: it states one for; the others it describes by a Llama-3-8B file size.
LLAMA_CPP_BPW = {
    "q1_0": 1.125, "q2_0": 2.25, "iq2_xxs": 2.06, "iq2_xs": 2.31, "iq2_s": 2.5, "iq2_m": 2.7, "iq1_s": 1.56,
    "iq1_m": 1.75, "tq1_0": 1.69, "tq2_0": 2.06, "iq3_xxs": 3.06, "iq3_s": 3.44, "iq3_m": 3.66, "iq3_xs": 3.3,
    "iq4_nl": 4.50, "iq4_xs": 4.25,
}


def _sampling_fields(path: Path) -> dict[str, object]:
    fields = gguf.GGUFReader(path).fields
    return {name: fields[name].contents() for name in fields if name.startswith("general.sampling.")}


@pytest.mark.slow
def test_an_alias_quantized_keeps_its_defaults_and_the_bigger_output_warns(tmp_path: Path) -> None:
    out = tmp_path / "smollm2-q8.gguf"
    code, stdout, stderr = run_cli("quantize", "smollm2", "-t", "q8_0", "--allow-requantize", "-o", str(out),
                                   "--threads", "2", "--json")
    assert code == 0, stderr
    spec = resolve_model("smollm2").spec  # configs/models.toml: temperature, top_p, repeat_penalty (no top_k)
    written = _sampling_fields(out)
    assert set(written) == {"general.sampling.temp", "general.sampling.top_p", "general.sampling.penalty_repeat"}
    assert written["general.sampling.temp"] == pytest.approx(spec["temperature"])
    assert written["general.sampling.top_p"] == pytest.approx(spec["top_p"], abs=1e-7)
    assert written["general.sampling.penalty_repeat"] == pytest.approx(spec["repeat_penalty"], abs=1e-7)
    assert _sampling_fields(SMOLLM2) == {}  # the source has none: they came from the alias
    record = json.loads(stdout)
    assert record["metadata_written"] == {"general.sampling.temp": 0.0, "general.sampling.top_p": 0.9,
                                          "general.sampling.penalty_repeat": 1.1}
    assert ("writing smollm2's defaults into the output: general.sampling.temp=0.0, general.sampling.top_p=0.9, "
            "general.sampling.penalty_repeat=1.1 (max_tokens, system: no GGUF key, not carried)\n") in stderr
    source_mib, out_mib = SMOLLM2.stat().st_size / 2**20, out.stat().st_size / 2**20
    assert out_mib > source_mib
    assert (f"warning: q8_0: the output is larger than its already quantized source ({out_mib:.1f} MiB against "
            f"{source_mib:.1f} MiB)") in stderr

    # Loaded as a plain file, it answers with the alias's sampling settings (the file's own defaults).
    provider = GGUFProvider({})
    defaults = model_defaults(resolve_model(f"gguf:{out}"), provider)
    assert {k: defaults[k] for k in ("temperature", "top_p", "repeat_penalty")} == \
        {"temperature": spec["temperature"], "top_p": spec["top_p"], "repeat_penalty": spec["repeat_penalty"]}


def test_a_file_source_gets_no_defaults_and_a_smaller_output_no_warning(tiny256: Path, tmp_path: Path) -> None:
    out = tmp_path / "q4.gguf"
    result = runner.invoke(app, ["quantize", str(tiny256), "-t", "q4_0", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert _sampling_fields(out) == {}
    assert "metadata_written" not in json.loads(result.stdout)
    assert "warning" not in result.stderr


def test_help_names_the_default_output() -> None:
    text = " ".join(runner.invoke(app, ["quantize", "--help"]).stdout.split())
    assert "Without it: SOURCE.TYPE.gguf in the current folder" in text


def test_default_output_is_where_help_says(tiny256: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "llmctl", "quantize", str(tiny256), "-t", "q8_0,q4_0"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("*.gguf")) == ["tiny256-f16.q4_0.gguf", "tiny256-f16.q8_0.gguf"]


def _claimed_bits(description: str) -> float | None:
    """The bits per weight a description spells out, if any: a float width, or values plus per-block scales."""
    layout = re.search(r"(\d+)-bit (?:values|non-linear levels)(, a 16-bit scale and a 16-bit minimum| and a 16-bit "
                       r"scale) per (\d+) weights", description)
    if layout:
        extra = 32 if "minimum" in layout.group(2) else 16
        return int(layout.group(1)) + extra / int(layout.group(3))
    width = re.search(r"(\d+)-bit float|in (\d+) bits", description)
    if width:
        return float(width.group(1) or width.group(2))
    assert not re.search(r"\d+(\.\d+)?[- ]?(bit|bpw)", description), description  # no other figure
    return None


def test_list_bits_per_weight_agree_with_llama_cpp_and_the_descriptions() -> None:
    result = runner.invoke(app, ["quantize", "--list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {r["type"]: r for r in map(json.loads, result.stdout.splitlines())}
    for qtype in available_types():
        record = listed[qtype.name]
        constant = "LLAMA_FTYPE_ALL_F32" if qtype.name == "f32" else f"LLAMA_FTYPE_MOSTLY_{qtype.name.upper()}"
        assert record["ftype"] == getattr(llama_cpp, constant), qtype.name
        bpw = record["bits_per_weight"]
        if qtype.name in LLAMA_CPP_BPW:
            assert bpw == pytest.approx(LLAMA_CPP_BPW[qtype.name], abs=0.005), qtype.name
        else:  # the main tensor type's block, by gguf's own table
            block, nbytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(qtype.ggml_type)]
            assert bpw == round(nbytes * 8 / block, 4), qtype.name
        claimed = _claimed_bits(record["description"])
        assert claimed is None or claimed == pytest.approx(bpw), (qtype.name, record["description"], bpw)


def test_each_i_quant_mix_gives_most_matrices_its_main_type(tiny256: Path, tmp_path: Path) -> None:
    """The main type the list's figures rest on is the one llama.cpp gives the bulk (iq2_s: iq2_xs)."""
    matrices = {t.name: int(t.shape[0]) for t in gguf.GGUFReader(tiny256).tensors if len(t.shape) == 2}
    imatrix = tmp_path / "imatrix.gguf"
    writer = gguf.GGUFWriter(str(imatrix), "imatrix")
    writer.add_string("general.type", "imatrix")
    for name, width in matrices.items():
        writer.add_tensor(f"{name}.in_sum2", np.linspace(1, 10, width, dtype=np.float32).reshape(1, width))
        writer.add_tensor(f"{name}.counts", np.array([[5.0]], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    for qtype in (t for t in available_types() if t.name in ("iq2_s", "iq2_m", "iq3_m")):
        out = tmp_path / f"{qtype.name}.gguf"
        quantize_gguf(tiny256, out, qtype, threads=2, imatrix=imatrix)
        counts = Counter(t.tensor_type for t in gguf.GGUFReader(out).tensors if len(t.shape) == 2)
        assert counts.most_common(1)[0][0] == qtype.ggml_type, (qtype.name, counts)


def _completions(words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**os.environ, "_LLMCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = subprocess.run([sys.executable, "-m", "llmctl"], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_type_completes_quant_types() -> None:
    assert _completions("llmctl quantize smollm2 --type q4_k") == ["q4_k_m", "q4_k_s"]
    assert _completions("llmctl quantize smollm2 -t q8_0,q4_") == ["q8_0,q4_k_m", "q8_0,q4_k_s", "q8_0,q4_1",
                                                                  "q8_0,q4_0"]
    every = _completions("llmctl quantize smollm2 --type ")
    assert every == [t.name for t in available_types()]
