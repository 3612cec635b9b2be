"""The hf backend through the real CLI: `llmctl embed -m minilm`, `complete` and `tokenize` on model folders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app

from .conftest import minilm_folder

runner = CliRunner()
TEXTS = ["A man is eating food.", "Someone is having a meal.", "The stock market crashed today."]


def _run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_embed_similarity_with_the_minilm_alias(sentence_transformer: Any) -> None:
    result = _run("--json", "embed", "-m", "minilm", *TEXTS, "--similarity")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    matrix = np.asarray(record["matrix"])
    vectors = sentence_transformer.encode(TEXTS)
    assert np.abs(matrix - vectors @ vectors.T).max() < 1e-5
    assert matrix[0, 1] > 0.6 > 0.1 > matrix[0, 2]
    assert record["model"] == "hf:minilm"
    assert record["cost"]["local"] is True and record["cost"]["total"] == 0
    expected_tokens = int(sentence_transformer.tokenize(TEXTS)["attention_mask"].sum())
    assert record["usage"] == {"input_tokens": expected_tokens, "output_tokens": 0,
                               "total_tokens": expected_tokens, "estimated": False}


def test_complete_on_a_model_folder(tiny_gpt2: Path) -> None:
    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.hf import HFProvider

    from .conftest import hf_ref

    expected = HFProvider({}).complete(hf_ref(tiny_gpt2), CompletionRequest("Hannah is a", temperature=0,
                                                                            max_tokens=6))
    result = _run("--json", "complete", "-m", f"hf:{tiny_gpt2}", "--max-tokens", "6", "-t", "0", "Hannah is a")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["text"] == expected.text
    assert record["usage"]["input_tokens"] == expected.usage.input_tokens
    assert record["usage"]["output_tokens"] == 6
    assert record["cost"]["local"] is True

    plain = _run("complete", "-m", f"hf:{tiny_gpt2}", "--max-tokens", "6", "-t", "0", "--stream", "Hannah is a")
    assert plain.exit_code == 0, plain.stderr
    assert plain.stdout.rstrip("\n") == expected.text


def test_pickle_folder_through_the_cli(tiny_gpt2: Path, copy_model: Callable[[Path], Path]) -> None:
    from transformers import AutoModelForCausalLM

    folder = copy_model(tiny_gpt2)
    (folder / "model.safetensors").unlink()
    import torch

    torch.save(AutoModelForCausalLM.from_pretrained(str(tiny_gpt2)).state_dict(), folder / "pytorch_model.bin")
    refused = _run("complete", "-m", f"hf:{folder}", "--max-tokens", "2", "hi")
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert refused.stderr == (f"llmctl: error: hf:{folder}: only pickle weights (pytorch_model.bin), which can run "
                              "code when loaded; pass --allow-pickle if you trust this folder\n")
    allowed = _run("complete", "-m", f"hf:{folder}", "--allow-pickle", "--max-tokens", "2", "-t", "0", "hi")
    assert allowed.exit_code == 0, allowed.stderr


def test_gguf_options_on_an_hf_model_are_exit_2(tiny_gpt2: Path) -> None:
    result = _run("complete", "-m", f"hf:{tiny_gpt2}", "--n-gpu-layers", "5", "hi")
    assert result.exit_code == 2
    assert result.stderr == (f"llmctl: error: --n-gpu-layers does not apply to hf:{tiny_gpt2} (the hf backend); "
                             "it takes --device, --threads, --allow-pickle, --trust-remote-code\n")


def test_tokenize_counts_with_the_models_own_tokenizer() -> None:
    from transformers import AutoTokenizer

    text = "We live in Paris but ewhd here [SEP]"
    expected = len(AutoTokenizer.from_pretrained(str(minilm_folder()), split_special_tokens=True)(
        text, add_special_tokens=False)["input_ids"])
    result = _run("tokenize", "-m", "minilm", text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(expected)


def test_a_model_id_found_in_the_local_hf_cache(tiny_gpt2: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    repo = tmp_path / "hub" / "models--tiny--gpt2"
    shutil.copytree(tiny_gpt2, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    from transformers import AutoTokenizer

    text = "Frogs sing at night"
    expected = len(AutoTokenizer.from_pretrained(str(tiny_gpt2))(text, add_special_tokens=False)["input_ids"])
    result = _run("tokenize", "-m", "hf:tiny/gpt2", text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(expected)
    completed = _run("--json", "complete", "-m", "hf:tiny/gpt2", "--max-tokens", "3", "-t", "0", text)
    assert completed.exit_code == 0, completed.stderr
    assert json.loads(completed.stdout)["usage"]["output_tokens"] == 3


@pytest.mark.slow
def test_loading_an_hf_model_leaves_stderr_to_llmctl(tmp_path: Path) -> None:
    # torchao (the quantize extra) logs a line for every CUDA kernel a CPU cannot load when
    # transformers imports it; a fresh process shows whether any of that reaches the user.
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "llmctl", "embed", "-m", "minilm", "--no-cache", "hello"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hf:minilm · "), done.stderr
