"""The usage log (a real SQLite file), `llmctl usage`, --max-cost and [budget] limits."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from support.scripted_run import ScriptedProvider, run


def _rows(data_dir: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(data_dir / "usage.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM calls ORDER BY id").fetchall()
    finally:
        db.close()


def _prompts(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def test_every_call_is_a_row_without_its_text(tmp_path: Path, data_dir: Path) -> None:
    prompts = _prompts(tmp_path, ["one two", "x FAIL", "three"])
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "--concurrency", "1")
    assert result.exit_code == 4
    rows = _rows(data_dir)
    assert [(r["command"], r["provider"], r["model"], r["error_type"]) for r in rows] == [
        ("complete", "scripted", "chat", None), ("complete", "scripted", "chat", "NetworkError"),
        ("complete", "scripted", "chat", None)]
    # "one two": 2 words + 2 = 4 in at $1, 2 out at $2.
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"], rows[0]["cost"]) == (4, 2, "8")
    assert all(r["text"] is None for r in rows)
    assert rows[0]["at"].endswith("Z") and rows[0]["latency_ms"] >= 0


def test_log_text_keeps_the_input(scripted_backend, data_dir: Path) -> None:
    scripted_backend("[usage]\nlog_text = true\n")
    run("complete", "-m", "scripted:chat", "hello there")
    assert _rows(data_dir)[0]["text"] == "hello there"


def test_no_log_env_keeps_the_cost_but_no_text(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    # Budgets count the log, so LLMCTL_NO_LOG keeps the exchange's text out, not its cost.
    monkeypatch.setenv("LLMCTL_NO_LOG", "1")
    assert run("complete", "-m", "scripted:chat", "hi").exit_code == 0
    assert [(r["model"], r["cost"], r["text"]) for r in _rows(data_dir)] == [("chat", "5", None)]
    db = sqlite3.connect(data_dir / "usage.db")
    assert db.execute("SELECT count(*) FROM exchanges").fetchone() == (0,)
    db.close()


def test_usage_log_off(scripted_backend, data_dir: Path) -> None:
    scripted_backend("[usage]\nlog = false\n")
    assert run("complete", "-m", "scripted:chat", "hi").exit_code == 0
    assert not (data_dir / "usage.db").exists()


def test_usage_command_groups_and_filters(tmp_path: Path, data_dir: Path) -> None:
    run("complete", "-m", "scripted:chat", "--jsonl", str(_prompts(tmp_path, ["a", "b c"])))
    run("embed", "-m", "scripted:vec", "banana split")
    result = run("usage", "--by", "command", "--json")
    assert result.exit_code == 0
    by_command = {r["command"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert by_command["complete"]["calls"] == 2
    assert by_command["complete"]["input_tokens"] == 3 + 4 and by_command["complete"]["output_tokens"] == 3
    assert by_command["complete"]["cost"] == 7 * 1 + 3 * 2
    assert by_command["embed"]["cost"] == 2
    assert run("usage", "--since", "2999-01-01", "--json").stdout == ""
    tsv = run("usage", "--by", "model").stdout.splitlines()
    assert tsv[0].split("\t")[0] == "model" and [line.split("\t")[0] for line in tsv[1:]] == [
        "scripted:chat", "scripted:vec"]
    bad = run("usage", "--since", "yesterday")
    assert bad.exit_code == 2 and bad.stderr == "llmctl: error: --since takes a date as YYYY-MM-DD, not 'yesterday'\n"


@pytest.mark.parametrize("folder", ["data?mode=rw", "data#1", "data%3F", "50% off"])
def test_usage_reads_a_log_whose_path_has_uri_characters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          folder: str) -> None:
    # `?`, `#` and `%` mean something in the file: URI sqlite is opened with (read-only).
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / folder))
    assert run("complete", "-m", "scripted:chat", "a b").exit_code == 0
    assert (tmp_path / folder / "llmctl" / "usage.db").is_file()
    result = run("usage", "--by", "model", "--json")
    assert result.exit_code == 0, result.stderr
    assert [(r["model"], r["calls"]) for r in map(json.loads, result.stdout.splitlines())] == [("scripted:chat", 1)]


@pytest.mark.parametrize("damage", ["locked", "corrupt"])
def test_a_locked_or_corrupt_log_warns_and_keeps_the_result(data_dir: Path, damage: str) -> None:
    data_dir.mkdir(parents=True)
    db_path = data_dir / "usage.db"
    holder = None
    if damage == "corrupt":
        db_path.write_bytes(b"this is not a database" * 100)
    else:
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run("complete", "--json", "-m", "scripted:chat", "hi")
    finally:
        if holder is not None:
            holder.close()
    assert result.exit_code == 0
    assert json.loads(result.stdout)["text"] == "HI"
    assert result.stderr.startswith(f"warning: the usage log {db_path} is unusable (")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan"])
def test_max_cost_must_be_a_positive_amount(value: str) -> None:
    result = run("complete", "-m", "scripted:chat", "--max-cost", value, "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith("llmctl: error: --max-cost must be")
    assert ScriptedProvider.calls == []


def test_max_cost_refuses_up_front_when_the_input_alone_is_over(tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    result = run("complete", "-m", "scripted:chat", "--max-cost", "2", "-o", str(out), "a b c")
    assert result.exit_code == 6
    assert result.stderr == ("llmctl: error: the input alone would cost $3, over the --max-cost limit of $2; "
                             "nothing was sent\n")
    assert ScriptedProvider.calls == [] and not out.exists()


def test_max_cost_stops_before_a_request_that_could_cross_it(tmp_path: Path, data_dir: Path) -> None:
    # Each request may cost up to $3 (1 token in, 1 out) and costs $5 (the backend adds 2 tokens).
    prompts = _prompts(tmp_path, ["x"] * 10)
    out = tmp_path / "a.jsonl"
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "--max-tokens", "1",
                 "--concurrency", "1", "--max-cost", "30", "-o", str(out))
    assert result.exit_code == 6
    assert "llmctl: error: --max-cost $30 reached: $30 spent; the next request could cost up to $3" in result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(ScriptedProvider.calls) == 6 == len(_rows(data_dir))
    assert sum(r["cost"]["total"] for r in records) == 30


def test_daily_budget_is_checked_against_the_log(scripted_backend) -> None:
    scripted_backend("[budget]\ndaily_usd = 8\n")
    assert run("complete", "-m", "scripted:chat", "--max-tokens", "1", "one two").exit_code == 0  # $8 spent
    ScriptedProvider.calls = []
    result = run("complete", "-m", "scripted:chat", "again")
    assert result.exit_code == 6
    assert result.stderr == "llmctl: error: [budget] daily_usd of $8 is spent ($8 logged); nothing was sent\n"
    assert ScriptedProvider.calls == []


def test_a_call_is_logged_before_its_record_reaches_the_file(scripted_backend, tmp_path: Path, data_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Budgets count the log: a kill between the two writes must never leave an unlogged answer.
    from llmctl.run.outfile import OutputFile

    scripted_backend("[usage]\nlog_text = true\n")
    seen: list[tuple[str, list[str]]] = []
    write = OutputFile.write

    def checked(self, item, index, record):  # type: ignore[no-untyped-def]
        seen.append((item.text, [r["text"] for r in _rows(data_dir)]))
        write(self, item, index, record)

    monkeypatch.setattr(OutputFile, "write", checked)
    prompts = _prompts(tmp_path, ["a b", "c", "d e f", "g"])
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(tmp_path / "out.jsonl"),
                 "--concurrency", "2")
    assert result.exit_code == 0, result.stderr
    assert sorted(text for text, _ in seen) == ["a b", "c", "d e f", "g"]
    assert all(text in logged for text, logged in seen)


def test_resume_marks_a_call_whose_record_was_lost(scripted_backend, tmp_path: Path, data_dir: Path) -> None:
    scripted_backend("[usage]\nlog_text = true\n")
    prompts = _prompts(tmp_path, ["a b", "c", "d e f"])
    out = tmp_path / "out.jsonl"
    assert run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out)).exit_code == 0
    # As if killed after the call for "c" was logged but before its record was written.
    lines = [line for line in out.read_text().splitlines() if json.loads(line)["id"] != 1]
    out.write_text("".join(line + "\n" for line in lines))
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--resume")
    assert result.exit_code == 0, result.stderr
    assert "1 answered call of this run never reached" in result.stderr
    rows = _rows(data_dir)
    assert sorted((r["text"], r["error_type"] or "") for r in rows) == [
        ("a b", ""), ("c", ""), ("c", "LostRecord"), ("d e f", "")]
    run_id = json.loads((tmp_path / "out.jsonl.run.json").read_text())["run"]
    assert {r["run"] for r in rows} == {run_id}
    assert json.loads(rows[-1]["records"]) == [["scripted:chat", "id:1"]]
    # The lost call was paid: it stays in the spend, and answered calls equal the file's records.
    assert sum(r["error_type"] is None for r in rows) == len(out.read_text().splitlines()) == 3
    first, again = (r for r in rows if r["text"] == "c")
    assert first["error_type"] == "LostRecord" and first["cost"] == again["cost"] != "0"
    spent = json.loads(run("usage", "--by", "command", "--json").stdout)
    assert spent["calls"] == 4 and spent["errors"] == 1
    assert spent["cost"] == float(sum(Decimal(r["cost"]) for r in rows))
    # A second resume of a complete file finds nothing lost.
    again = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts), "-o", str(out), "--resume")
    assert again.exit_code == 0 and "never reached" not in again.stderr
    assert len(_rows(data_dir)) == 4


def test_an_older_usage_log_gains_the_new_columns(tmp_path: Path, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / "usage.db")
    db.executescript("""CREATE TABLE calls (id INTEGER PRIMARY KEY, at TEXT NOT NULL, command TEXT NOT NULL,
        provider TEXT NOT NULL, model TEXT NOT NULL, input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0, cached_tokens INTEGER NOT NULL DEFAULT 0, cost TEXT,
        currency TEXT, latency_ms REAL, cache_hit INTEGER NOT NULL DEFAULT 0, error_type TEXT, text TEXT);
        INSERT INTO calls (at, command, provider, model, cost) VALUES ('2026-01-01T00:00:00Z', 'complete',
        'openai', 'gpt-4o-mini', '0.5');""")
    db.close()
    out = tmp_path / "o.jsonl"
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(_prompts(tmp_path, ["x y"])), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    rows = _rows(data_dir)
    assert len(rows) == 2 and rows[0]["run"] is None and rows[1]["run"] is not None
