"""tokenize on the run layer: several models' counts of the same input, and an empty file counting 0."""

from __future__ import annotations

import json
from pathlib import Path

from support.scripted_run import run

from llmctl.providers.openai.vocab import tiktoken_encoding


def test_compare_counts_with_each_models_own_tokenizer(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Frogs sing at night, and the pond answers them.")
    result = run("tokenize", "--json", "-m", "openai:gpt-4o", "-m", "openai:gpt-4", "-m", "scripted:chat",
                 "-f", str(doc))
    assert result.exit_code == 0, result.stderr
    records = {r["model"]: r for r in map(json.loads, result.stdout.splitlines())}
    text = doc.read_text()
    assert records["openai:gpt-4o"]["tokens"] == len(tiktoken_encoding("o200k_base").encode(text))
    assert records["openai:gpt-4"]["tokens"] == len(tiktoken_encoding("cl100k_base").encode(text))
    assert records["scripted:chat"]["tokens"] == len(text.split())
    assert list(records) == ["openai:gpt-4o", "openai:gpt-4", "scripted:chat"]  # the order given


def test_an_empty_file_counts_zero_like_wc(tmp_path: Path) -> None:
    a, empty, b = tmp_path / "a.txt", tmp_path / "empty.txt", tmp_path / "b.txt"
    a.write_text("one two three")
    empty.write_text("")
    b.write_text("four")
    result = run("tokenize", "-m", "scripted:chat", "-f", str(a), "-f", str(empty), "-f", str(b))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"3 {a}", f"0 {empty}", f"1 {b}", "4 total"]
