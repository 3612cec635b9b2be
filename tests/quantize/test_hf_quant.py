"""HF -> HF quantization in transformers: torchao int8 on the CPU, bitsandbytes where it can run.

Each quantized folder is reloaded by transformers itself and its logits compared with the
original model's; `llmctl complete -m hf:OUT` must load it as it is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app

runner = CliRunner()
PROMPT = "The capital of France is"


@pytest.fixture(scope="session")
def tiny_hf_llama(smollm2_hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama with SmolLM2's tokenizer, saved as safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-hf") / "tiny-llama"
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(smollm2_hf_dir / name, folder / name)
    return folder


def _logits(folder: Path) -> object:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu")
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits[0].float(), model


def _cosine(a: object, b: object) -> float:
    import torch

    return float(torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))  # type: ignore[union-attr]


def _quantize(source: Path, out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["quantize", str(source), "--to", "hf", "-o", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_int8_torchao_round_trip(tiny_hf_llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8"
    record = _quantize(tiny_hf_llama, out, "--method", "int8")
    config = json.loads((out / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "torchao"
    assert record["output_bytes"] < record["source_bytes"]
    reference, _ = _logits(tiny_hf_llama)
    quantized, model = _logits(out)
    assert "Int8" in type(model.model.layers[0].self_attn.q_proj.weight).__name__
    assert _cosine(reference, quantized) > 0.99
    # the folder runs in llmctl as it is
    done = runner.invoke(app, ["complete", "-m", f"hf:{out}", "--temperature", "0", "--max-tokens", "4", "--json",
                               PROMPT])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["usage"]["output_tokens"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nf4", "int8-bnb"])
def test_bitsandbytes_methods(tiny_hf_llama: Path, tmp_path: Path, method: str) -> None:
    from llmctl.quantize.hf_quant import bitsandbytes_problem

    problem = bitsandbytes_problem(method)
    if problem:
        pytest.skip(problem)
    out = tmp_path / method
    extra = ["--double-quant", "--compute-dtype", "float32"] if method == "nf4" else []
    _quantize(tiny_hf_llama, out, "--method", method, *extra)
    settings = json.loads((out / "config.json").read_text())["quantization_config"]
    assert settings["quant_method"] == "bitsandbytes"
    if method == "nf4":
        assert settings["load_in_4bit"] and settings["bnb_4bit_quant_type"] == "nf4"
        assert settings["bnb_4bit_use_double_quant"] is True
    else:
        assert settings["load_in_8bit"]
    reference, _ = _logits(tiny_hf_llama)
    quantized, _ = _logits(out)
    assert _cosine(reference, quantized) > 0.95


def test_hf_refusals(tiny_small_vocab: Path, tmp_path: Path) -> None:
    cases = [
        ([str(tiny_small_vocab), "--to", "hf", "--method", "int8"], "needs a Hugging Face model folder"),
        ([str(tmp_path), "--to", "hf"], "--method"),
        ([str(tmp_path), "--to", "hf", "--method", "int3"], "--method must be one of"),
        ([str(tmp_path), "--to", "onnx", "-t", "q8_0"], "--to must be gguf or hf"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["quantize", *args, "-o", str(tmp_path / "out")])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr
    assert not (tmp_path / "out").exists()
