"""Perplexity and agreement: checked against a hand computation over llama.cpp's own logits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import llama_cpp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.quantize.evaluate import evaluate, top1_agreement, windows

from .conftest import EVAL_TEXT

runner = CliRunner()


@given(n=st.integers(2, 400), context=st.integers(2, 64), data=st.data())
def test_windows_score_each_token_once(n: int, context: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(1, context))
    if n < context:
        n = context
    scored: list[int] = []
    for start, end, first in windows(n, context, stride):
        assert 0 < end - start <= context and first >= 1
        scored += list(range(start + first, end))
    assert scored == sorted(set(scored))  # no token twice, in order
    assert scored[-1] == n - 1 or (n - 1) % stride == 0  # a last window of one token scores nothing
    # with overlap every token but the first is scored; without it, each window's first is not
    missing = set(range(1, n)) - set(scored)
    assert all(m % stride == 0 for m in missing)


def _hand_perplexity(model: Path, text: str, context: int) -> tuple[float, int]:
    """Non-overlapping windows of `context` tokens, scored by a log-softmax written out longhand."""
    llm = llama_cpp.Llama(model_path=str(model), n_ctx=context, n_batch=context, logits_all=True, verbose=False)
    try:
        ids = llm.tokenize(text.encode(), add_bos=False, special=False)
        total, count = 0.0, 0
        for start in range(0, len(ids), context):
            chunk = ids[start:start + context]
            if len(chunk) < 2:
                continue
            llm.reset()
            llm.eval(chunk)
            for pos in range(len(chunk) - 1):
                row = np.array(llm.scores[pos], dtype=np.float64)
                log_z = np.log(np.sum(np.exp(row - row.max()))) + row.max()
                total += log_z - row[chunk[pos + 1]]
                count += 1
    finally:
        llm.close()
    return math.exp(total / count), count


def test_perplexity_matches_hand_computation(tiny256: Path) -> None:
    text = EVAL_TEXT[:500]
    expected, count = _hand_perplexity(tiny256, text, 32)
    result = evaluate(tiny256, text, context=32, threads=2, gen_tokens=4)
    assert result.scored_tokens == count
    assert result.perplexity == pytest.approx(expected, rel=1e-4)
    assert 1.0 < result.perplexity < 2 * 49152  # a random model: about the vocabulary's size, not more
    assert top1_agreement(result, result) == 1.0
    assert result.gen_tokens_per_s > 0


def test_eval_report_and_warning(tiny64: Path, tmp_path: Path) -> None:
    """q4_k_m on rows of 64 falls back everywhere; a 0% threshold makes the warning name that cause."""
    text = tmp_path / "eval.txt"
    text.write_text(EVAL_TEXT[:600])
    out = tmp_path / "outs"
    result = runner.invoke(app, ["quantize", str(tiny64), "-t", "q8_0,q4_k_m", "-o", str(out), "--json",
                                 "--eval-text", str(text), "--eval-ctx", "32", "--max-ppl-rise", "0",
                                 "--threads", "2"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["type"] for r in records] == ["q8_0", "q4_k_m"]
    q8, q4 = (r["eval"] for r in records)
    assert q8["source_perplexity"] == q4["source_perplexity"]
    assert abs(q8["ppl_change"]) < abs(q4["ppl_change"]) or q8["top1_agreement"] >= q4["top1_agreement"]
    assert q8["top1_agreement"] > 0.9
    for r in records:
        assert r["eval"]["perplexity"] == pytest.approx(q8["source_perplexity"] * (1 + r["eval"]["ppl_change"]),
                                                        rel=1e-3)
    if q4["ppl_change"] > 0:
        assert "q4_k_m: perplexity rose" in result.stderr and "fell back" in result.stderr


def test_eval_text_too_short_exits_2(tiny_small_vocab: Path, tiny256: Path, tmp_path: Path) -> None:
    text = tmp_path / "short.txt"
    text.write_text("Just a few words.")
    out = tmp_path / "o.gguf"
    result = runner.invoke(app, ["quantize", str(tiny256), "-t", "q8_0", "-o", str(out), "--eval-text", str(text)])
    assert result.exit_code == 2
    assert "too short" in result.stderr
    assert not out.exists()
