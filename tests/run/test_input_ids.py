"""Inputs that share an `id`: refused before anything is sent (exit 2, the id and its lines), or
with --dedupe the first of each kept, on a first run and on --resume, for every --jsonl command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.scripted_run import ScriptedProvider, run


def _jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"id": rid, "text": text}) + "\n" for rid, text in rows))
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# Line 3 repeats "a" (line 1) before line 5 repeats "b" (line 2): "a" is the first repeated id.
ROWS = [("a", "one"), ("b", "two"), ("a", "three"), ("c", "four"), ("b", "five")]


def _refusal(path: Path) -> str:
    return (f"llmctl: error: {path}: id \"a\" is on lines 1 and 3 (1 more id repeats); each record needs its own id "
            "(--dedupe keeps the first of each and drops the rest)\n")


@pytest.mark.parametrize("with_output", [False, True])
def test_a_first_run_with_repeated_ids_is_exit_2_and_sends_nothing(tmp_path: Path, with_output: bool) -> None:
    prompts = _jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "answers.jsonl"
    args = ["complete", "-m", "scripted:chat", "--jsonl", str(prompts)] + (["-o", str(out)] if with_output else [])
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == _refusal(prompts)
    assert result.stdout == ""
    assert ScriptedProvider.calls == []
    assert not out.exists()


def test_resume_with_repeated_ids_is_exit_2_and_leaves_the_file_alone(tmp_path: Path) -> None:
    out = tmp_path / "answers.jsonl"
    first = _jsonl(tmp_path / "first.jsonl", [("a", "one"), ("b", "two")])
    assert run("complete", "-m", "scripted:chat", "--jsonl", str(first), "-o", str(out)).exit_code == 0
    before = out.read_bytes()
    ScriptedProvider.calls = []
    # "c" is new, and "b" comes twice: the old code sent "c", skipped both "b"s and said nothing.
    grown = _jsonl(tmp_path / "grown.jsonl", [("a", "one"), ("b", "two"), ("c", "three"), ("b", "four")])
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(grown), "-o", str(out), "--resume")
    assert result.exit_code == 2
    assert result.stderr == (f"llmctl: error: {grown}: id \"b\" is on lines 2 and 4; each record needs its own id "
                             "(--dedupe keeps the first of each and drops the rest)\n")
    assert ScriptedProvider.calls == []
    assert out.read_bytes() == before


def test_dedupe_keeps_the_first_of_each_id_and_says_how_many_were_dropped(tmp_path: Path) -> None:
    prompts = _jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "answers.jsonl"
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--dedupe")
    assert result.exit_code == 0, result.stderr
    assert ("warning: --dedupe: dropped 2 records whose id an earlier record has (the first: id \"a\" on line 3, "
            "kept on line 1)\n") in result.stderr
    assert sorted(prompt for _, prompt in ScriptedProvider.calls) == ["four", "one", "two"]
    assert sorted((r["id"], r["text"]) for r in _records(out)) == [("a", "ONE"), ("b", "TWO"), ("c", "FOUR")]


def test_dedupe_on_resume_sends_only_new_ids_once(tmp_path: Path) -> None:
    out = tmp_path / "answers.jsonl"
    first = _jsonl(tmp_path / "first.jsonl", [("a", "one"), ("b", "two")])
    assert run("complete", "-m", "scripted:chat", "--jsonl", str(first), "-o", str(out)).exit_code == 0
    ScriptedProvider.calls = []
    grown = _jsonl(tmp_path / "grown.jsonl", [("a", "one"), ("b", "two"), ("c", "three"), ("b", "four"),
                                              ("c", "five")])
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(grown), "-o", str(out), "--resume", "--dedupe")
    assert result.exit_code == 0, result.stderr
    assert ScriptedProvider.calls == [("chat", "three")]
    assert sorted((r["id"], r["text"]) for r in _records(out)) == [("a", "ONE"), ("b", "TWO"), ("c", "THREE")]


def test_the_json_id_decides_so_1_and_the_string_1_are_two_ids(tmp_path: Path) -> None:
    prompts = tmp_path / "in.jsonl"
    prompts.write_text('{"id": 1, "text": "one"}\n{"id": "1", "text": "two"}\n')
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "--json")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [1, "1"]


@pytest.mark.parametrize("command", [
    ["complete", "-m", "scripted:chat"],
    ["embed", "-m", "scripted:vec"],
    ["classify", "-m", "scripted:chat", "--labels", "pos,neg"],
    ["summarize", "-m", "scripted:chat"],
    ["ner", "-m", "scripted:chat"],
])
def test_every_jsonl_command_refuses_repeated_ids_and_takes_dedupe(tmp_path: Path, command: list[str]) -> None:
    prompts = _jsonl(tmp_path / "in.jsonl", ROWS)
    result = run(*command, "--jsonl", str(prompts))
    assert result.exit_code == 2
    assert result.stderr == _refusal(prompts)
    assert ScriptedProvider.calls == []
    result = run(*command, "--jsonl", str(prompts), "--dedupe", "--json")
    assert "--dedupe: dropped 2 records" in result.stderr
    assert sorted(json.loads(line)["id"] for line in result.stdout.splitlines()) == ["a", "b", "c"]


def test_a_provider_batch_with_repeated_ids_is_not_uploaded(tmp_path: Path, scripted_backend) -> None:
    from support.batch_server import BatchServer

    server = BatchServer()
    try:
        scripted_backend(f'[profiles.batches]\nkind = "openai"\nbase_url = "{server.base_url}"\n')
        prompts = _jsonl(tmp_path / "in.jsonl", ROWS)
        args = ["complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:gpt-4o-mini",
                "--jsonl", str(prompts)]
        result = run(*args)
        assert result.exit_code == 2
        assert result.stderr == _refusal(prompts)
        assert server.uploads == [] and server.created == []
        result = run(*args, "--dedupe")
        assert result.exit_code == 0, result.stderr
        sent = [json.loads(line) for line in server.uploads[0]["content"].decode().splitlines()]
        assert [line["body"]["messages"][-1]["content"] for line in sent] == ["one", "two", "four"]
        assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a", "b", "c"]
    finally:
        server.close()
