"""Compare mode: several models at once, one record per (model, input), failures in their own rows."""

from __future__ import annotations

import json
from pathlib import Path

from support.scripted_run import ScriptedProvider, run


def test_models_run_at_once_and_json_gives_one_record_per_pair() -> None:
    result = run("complete", "--json", "-m", "scripted:slow-300", "-m", "scripted:slow-200", "-m", "scripted:slow-100",
                 "say hi")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["model"] for r in records) == ["scripted:slow-100", "scripted:slow-200", "scripted:slow-300"]
    assert all(r["text"] == "SAY HI" and r["error"] is None for r in records)
    # All three were in flight together (the wall time is measured in benchmarks/bench_run.py).
    assert ScriptedProvider.most_in_flight == 3
    # Streaming backends report time to first token and a rate.
    slow = next(r for r in records if r["model"] == "scripted:slow-300")
    assert slow["ttft_ms"] >= 300 and slow["latency_ms"] >= slow["ttft_ms"]
    assert slow["tokens_per_s"] is not None


def test_failing_model_shows_its_error_in_its_row_and_exit_4() -> None:
    result = run("complete", "--format", "tsv", "-m", "scripted:chat", "-m", "scripted:broken", "hello there")
    assert result.exit_code == 4
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["model", "answer", "ttft_ms", "total_ms", "tokens_in", "tokens_out",
                                    "tokens_per_s", "cost"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["scripted:chat"][1] == "HELLO THERE"
    assert rows["scripted:chat"][4:6] == ["4", "2"]
    assert rows["scripted:chat"][7] == "$8"  # 4 in at $1/token + 2 out at $2/token
    assert rows["scripted:broken"][1] == "error: connection reset by peer"
    assert "llmctl: error: 1 of 2 records failed" in result.stderr


def test_every_model_times_every_prompt(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two words"}\n')
    result = run("complete", "--json", "-m", "scripted:chat", "-m", "scripted:slow-50", "--jsonl", str(prompts))
    assert result.exit_code == 0
    pairs = sorted((r["id"], r["model"], r["text"]) for r in map(json.loads, result.stdout.splitlines()))
    assert pairs == [("a", "scripted:chat", "ONE"), ("a", "scripted:slow-50", "ONE"),
                     ("b", "scripted:chat", "TWO WORDS"), ("b", "scripted:slow-50", "TWO WORDS")]


def test_models_file_with_comments(tmp_path: Path) -> None:
    models = tmp_path / "models.txt"
    models.write_text("# the contenders\nscripted:chat\n\nscripted:slow-50   # slower\n")
    result = run("complete", "--json", "--models-file", str(models), "hi")
    assert result.exit_code == 0
    assert sorted(json.loads(line)["model"] for line in result.stdout.splitlines()) == [
        "scripted:chat", "scripted:slow-50"]


def test_models_file_errors_name_the_line(tmp_path: Path) -> None:
    models = tmp_path / "models.txt"
    models.write_text("scripted:chat\n# fine\nscripted:nope\n")
    result = run("complete", "--models-file", str(models), "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"llmctl: error: --models-file {models} line 3: unknown model scripted:nope")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    result = run("complete", "--models-file", str(empty), "hi")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: --models-file {empty}: no model names in it\n"
    assert ScriptedProvider.calls == []


def test_each_model_within_its_backend_limit(scripted_backend) -> None:
    ScriptedProvider.max_concurrency = 2
    try:
        prompts = "\n".join(json.dumps({"text": f"p {i}"}) for i in range(12))
        result = run("complete", "-m", "scripted:slow-50", "--jsonl", "-", "--concurrency", "8", input=prompts)
    finally:
        ScriptedProvider.max_concurrency = None
    assert result.exit_code == 0
    assert ScriptedProvider.most_in_flight == 2
    texts = [json.loads(line)["text"] for line in result.stdout.splitlines()]
    assert texts == [f"P {i}" for i in range(12)]  # input order on stdout


def test_embed_similarity_one_matrix_per_model_then_a_row_per_model() -> None:
    result = run("embed", "--format", "tsv", "-m", "scripted:vec", "-m", "scripted:broken-vec", "banana", "kiwi")
    assert result.exit_code == 2  # an unknown model is refused before anything is sent
    result = run("embed", "--json", "--similarity", "-m", "scripted:vec", "-m", "scripted:vec", "banana", "papaya",
                 "kiwi")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 1  # the same model named twice runs once
    assert records[0]["matrix"][0][1] == 1.0 and records[0]["matrix"][0][2] == 0.0


def test_embed_similarity_with_two_models_tsv(scripted_backend) -> None:
    scripted_backend('[models.scripted."vec2"]\ncapabilities = ["embed", "tokenize"]\n')
    result = run("embed", "--format", "tsv", "--similarity", "-m", "scripted:vec", "-m", "scripted:vec2",
                 "banana", "kiwi")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["model\ttext\t1\t2", "scripted:vec\tbanana\t1.0000\t0.0000",
                         "scripted:vec\tkiwi\t0.0000\t1.0000"]
    assert lines[3:6] == ["model\ttext\t1\t2", "scripted:vec2\tbanana\t1.0000\t0.0000",
                          "scripted:vec2\tkiwi\t0.0000\t1.0000"]
    assert lines[6] == "model\tdimensions\ttokens\tcost\tseconds\terror"
    assert lines[7].split("\t")[:4] == ["scripted:vec", "5", "2", "$2"]
    assert lines[8].split("\t")[:4] == ["scripted:vec2", "5", "2", "price unknown"]


def test_no_record_is_lost_while_another_model_loads(scripted_backend) -> None:
    scripted_backend('[models.scripted."quietload"]\ncapabilities = ["complete", "tokenize"]\n')
    result = run("complete", "--json", "-m", "scripted:chat", "-m", "scripted:quietload", "hi")
    assert result.exit_code == 0, result.stderr
    assert sorted(json.loads(line)["model"] for line in result.stdout.splitlines()) == [
        "scripted:chat", "scripted:quietload"]
