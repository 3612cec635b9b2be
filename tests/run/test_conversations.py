"""Conversations in the usage log's SQLite file (FTS5), `llmctl logs` and templates, on the scripted backend."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from support.scripted_run import ScriptedProvider, run

from llmctl.core.ulid import is_ulid, new_ulid, ulid_ms


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_ulids_sort_by_time_and_use_crockford_base32() -> None:
    first, second = new_ulid(1_700_000_000_000), new_ulid(1_700_000_000_001)
    assert is_ulid(first) and len(first) == 26 and first < second
    assert ulid_ms(first) == 1_700_000_000_000
    assert not set(first) & set("ILOU")


def test_a_prompt_is_stored_and_continued_with_its_history(data_dir: Path) -> None:
    assert run("complete", "-m", "scripted:chat", "name three rivers").exit_code == 0
    second = run("complete", "-c", "which is longest")
    assert second.exit_code == 0, second.stderr
    # -c without -m goes on with the conversation's model; the history went with the prompt.
    assert ScriptedProvider.calls[-1] == ("chat", "which is longest")
    db = sqlite3.connect(data_dir / "usage.db")
    rows = db.execute("SELECT conversation, prompt, answer, model, call FROM exchanges ORDER BY n").fetchall()
    assert [(r[1], r[2], r[3]) for r in rows] == [("name three rivers", "NAME THREE RIVERS", "scripted:chat"),
                                                  ("which is longest", "WHICH IS LONGEST", "scripted:chat")]
    assert rows[0][0] == rows[1][0] and is_ulid(rows[0][0])
    # Each exchange points at its own call row, whose cost it repeats.
    costs = dict(db.execute("SELECT id, cost FROM calls").fetchall())
    assert [costs[r[4]] for r in rows] == [c for (c,) in db.execute("SELECT cost FROM exchanges ORDER BY n")]
    db.close()


def test_continue_sends_the_whole_history(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[dict[str, str]]] = []
    real = ScriptedProvider.complete

    def spy(self, ref, request, on_text=None):  # type: ignore[no-untyped-def]
        seen.append(request.messages())
        return real(self, ref, request, on_text)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    run("complete", "-m", "scripted:chat", "-s", "be brief", "one")
    run("complete", "-c", "two")
    run("complete", "-c", "three")
    assert seen[-1] == [{"role": "system", "content": "be brief"},
                        {"role": "user", "content": "one"}, {"role": "assistant", "content": "ONE"},
                        {"role": "user", "content": "two"}, {"role": "assistant", "content": "TWO"},
                        {"role": "user", "content": "three"}]


def test_continue_without_a_conversation_and_an_unknown_cid_are_exit_2(data_dir: Path) -> None:
    none = run("complete", "-m", "scripted:chat", "-c", "more")
    assert none.exit_code == 2
    assert none.stderr.startswith("llmctl: error: -c/--continue: there is no earlier conversation in ")
    run("complete", "-m", "scripted:chat", "hello")
    unknown = run("complete", "--cid", "01JF0000000000000000000000", "more")
    assert unknown.exit_code == 2
    assert "--cid 01JF0000000000000000000000: no such conversation" in unknown.stderr
    assert ScriptedProvider.calls == [("chat", "hello")]


def test_too_long_a_history_is_refused_or_truncated(data_dir: Path) -> None:
    # scripted:chat has a 100-token window, one token a word.
    run("complete", "-m", "scripted:chat", " ".join(["word"] * 30))
    run("complete", "-c", " ".join(["more"] * 30))
    refused = run("complete", "-c", "and", "again")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("llmctl: error: the conversation with this prompt is ")
    assert "scripted:chat's context window is 100; --truncate-history drops its oldest turns" in refused.stderr
    assert len(ScriptedProvider.calls) == 2
    kept = run("complete", "-c", "--truncate-history", "and", "again")
    assert kept.exit_code == 0
    assert "dropped the oldest 1 turn of the conversation to fit scripted:chat's 100-token context window" \
        in kept.stderr


def test_estimate_counts_the_whole_history() -> None:
    run("complete", "-m", "scripted:chat", "one two three")
    first = _records(run("complete", "--estimate", "--json", "-m", "scripted:chat", "four").stdout)[0]
    continued = _records(run("complete", "-c", "--estimate", "--json", "four").stdout)[0]
    # The stored turn: 3 words asked, 3 answered.
    assert continued["input_tokens"] - first["input_tokens"] == 6


def test_no_log_and_store_text(scripted_backend, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    assert run("complete", "-m", "scripted:chat", "--no-log", "secret one").exit_code == 0
    monkeypatch.setenv("LLMCTL_NO_LOG", "1")
    assert run("complete", "-m", "scripted:chat", "secret two").exit_code == 0
    db = sqlite3.connect(data_dir / "usage.db")
    # Nothing of the text is stored; the cost rows are (budgets count them).
    assert db.execute("SELECT count(*) FROM exchanges").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM calls").fetchone() == (2,)
    monkeypatch.delenv("LLMCTL_NO_LOG")
    scripted_backend("[logs]\nstore_text = false\n")
    assert run("complete", "-m", "scripted:chat", "secret three").exit_code == 0
    assert db.execute("SELECT prompt, answer, input_tokens, cost FROM exchanges").fetchall() == [(None, None, 4, "8")]
    db.close()
    refused = run("complete", "-c", "more")
    assert refused.exit_code == 2 and "stored without its text ([logs] store_text = false)" in refused.stderr


def test_batches_and_compares_create_no_conversation(tmp_path: Path, data_dir: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "a"}\n{"text": "b"}\n')
    run("complete", "-m", "scripted:chat", "--jsonl", str(prompts))
    run("complete", "-m", "scripted:chat", "-m", "scripted:slow-50", "compare")
    db = sqlite3.connect(data_dir / "usage.db")
    assert db.execute("SELECT count(*) FROM exchanges").fetchone() == (0,)
    db.close()
    refused = run("complete", "-c", "--jsonl", str(prompts))
    assert refused.exit_code == 2 and "-c/--continue and --cid go on with one conversation" in refused.stderr


def test_a_corrupt_log_still_prints_the_answer(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "usage.db").write_bytes(b"this is not a database" * 100)
    result = run("complete", "-m", "scripted:chat", "hello")
    assert result.exit_code == 0
    assert result.stdout == "HELLO\n"
    assert "this run is not logged and the exchange is not stored" in result.stderr


def test_a_locked_log_still_prints_the_answer(data_dir: Path) -> None:
    run("complete", "-m", "scripted:chat", "first")
    holder = sqlite3.connect(data_dir / "usage.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = run("complete", "-c", "second")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 0 and result.stdout == "SECOND\n"
    assert "the exchange is not stored" in result.stderr


def test_an_old_log_gains_the_conversation_tables(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    old = sqlite3.connect(data_dir / "usage.db")
    old.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, at TEXT NOT NULL, command TEXT NOT NULL, provider TEXT"
                " NOT NULL, model TEXT NOT NULL, input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT"
                " NULL DEFAULT 0, cached_tokens INTEGER NOT NULL DEFAULT 0, cost TEXT, currency TEXT, latency_ms"
                " REAL, cache_hit INTEGER NOT NULL DEFAULT 0, error_type TEXT, text TEXT)")
    old.execute("INSERT INTO calls (at, command, provider, model, cost) VALUES ('2026-01-01T00:00:00Z', 'embed',"
                " 'x', 'y', '1')")
    old.commit()
    old.close()
    assert run("complete", "-m", "scripted:chat", "hello").exit_code == 0
    logs = _records(run("logs", "--json").stdout)
    assert [r["prompt"] for r in logs] == ["hello"]
    assert len(_records(run("usage", "--json").stdout)) == 2


def test_logs_list_search_filter_and_markdown() -> None:
    run("complete", "-m", "scripted:chat", "the rivers of France")
    run("complete", "-c", "which one is longest")
    run("complete", "-m", "scripted:slow-50", "frogs sing at night")
    listed = _records(run("logs", "--json").stdout)
    assert [r["prompt"] for r in listed] == ["frogs sing at night", "which one is longest", "the rivers of France"]
    assert listed[0]["usage"] == {"input_tokens": 6, "output_tokens": 4, "total_tokens": 10}
    assert [r["prompt"] for r in _records(run("logs", "-n", "1", "--json").stdout)] == ["frogs sing at night"]
    # Full-text search over prompts and answers: every word, case-insensitive.
    assert [r["prompt"] for r in _records(run("logs", "-q", "RIVERS", "--json").stdout)] == ["the rivers of France"]
    assert [r["prompt"] for r in _records(run("logs", "-q", "longest", "--json").stdout)] == ["which one is longest"]
    assert run("logs", "-q", "rivers frogs", "--json").stdout == ""
    assert [r["prompt"] for r in _records(run("logs", "-m", "slow-50", "--json").stdout)] == ["frogs sing at night"]
    assert run("logs", "--since", "2999-01-01", "--json").stdout == ""
    assert len(_records(run("logs", "--until", "2999-01-01", "--json").stdout)) == 3
    cid = listed[1]["conversation_id"]
    markdown = run("logs", "--cid", cid, "--markdown").stdout
    assert markdown.startswith(f"# Conversation {cid}\n")
    assert markdown.index("the rivers of France") < markdown.index("THE RIVERS OF FRANCE") \
        < markdown.index("which one is longest")
    assert run("logs", "-q", '"unbalanced', "--json").exit_code == 0
    assert run("logs", "--since", "soon").exit_code == 2


def test_conversation_costs_add_up_with_usage() -> None:
    run("complete", "-m", "scripted:chat", "one two")
    run("complete", "-c", "three four five")
    run("complete", "-m", "scripted:chat", "six")
    conversations = _records(run("logs", "--conversations", "--json").stdout)
    assert [c["turns"] for c in conversations] == [1, 2]
    assert conversations[1]["models"] == ["scripted:chat"]
    usage = _records(run("usage", "--by", "command", "--json").stdout)
    assert sum(Decimal(str(c["cost"])) for c in conversations) == Decimal(str(usage[0]["cost"]))
    assert sum(c["input_tokens"] for c in conversations) == usage[0]["input_tokens"]


def test_logs_rm_removes_text_but_not_spend() -> None:
    run("complete", "-m", "scripted:chat", "keep me")
    run("complete", "-m", "scripted:chat", "drop me")
    cid = _records(run("logs", "-n", "1", "--json").stdout)[0]["conversation_id"]
    removed = run("logs", "rm", "--cid", cid)
    assert removed.exit_code == 0 and "removed 1 exchange (1 conversation gone whole)" in removed.stderr
    assert [r["prompt"] for r in _records(run("logs", "--json").stdout)] == ["keep me"]
    assert run("logs", "-q", "drop", "--json").stdout == ""
    assert run("logs", "rm").exit_code == 2
    run("logs", "rm", "--before", "2999-01-01")
    assert run("logs", "--json").stdout == ""
    assert _records(run("usage", "--json").stdout)[0]["calls"] == 2


def test_run_local_turns_are_stored_and_picked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[dict[str, str]]] = []
    real = ScriptedProvider.complete

    def spy(self, ref, request, on_text=None):  # type: ignore[no-untyped-def]
        seen.append(request.messages())
        return real(self, ref, request, on_text)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    assert run("run-local", "scripted:chat", "-s", "be kind", "my name is Zorblax").exit_code == 0
    # No MODEL: the conversation's own; its system prompt goes on too.
    result = run("run-local", "--continue", input="what is my name\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "WHAT IS MY NAME"
    assert seen[-1] == [{"role": "system", "content": "be kind"},
                        {"role": "user", "content": "my name is Zorblax"},
                        {"role": "assistant", "content": "MY NAME IS ZORBLAX"},
                        {"role": "user", "content": "what is my name"}]
    # complete -c goes on with the same conversation, whichever command stored it.
    run("complete", "-c", "and mine")
    assert len(seen[-1]) == 6
    conversations = _records(run("logs", "--conversations", "--json").stdout)
    assert [c["turns"] for c in conversations] == [3]
    assert run("run-local", "--continue", "--serve").exit_code == 2
    assert run("run-local", input="hi\n").exit_code == 2


def test_a_cached_answer_is_stored_but_a_continued_prompt_is_never_cached(data_dir: Path) -> None:
    run("complete", "-m", "scripted:chat", "--temperature", "0", "same question")
    run("complete", "-m", "scripted:chat", "--temperature", "0", "same question")
    assert ScriptedProvider.calls == [("chat", "same question")]  # the second: from the cache
    run("complete", "-c", "--temperature", "0", "same question")
    assert len(ScriptedProvider.calls) == 2  # with history: sent, never answered from the cache
    db = sqlite3.connect(data_dir / "usage.db")
    assert db.execute("SELECT count(*), count(DISTINCT conversation) FROM exchanges").fetchone() == (3, 2)
    db.close()


def test_chat_reset_starts_a_new_stored_conversation(data_dir: Path) -> None:
    from llmctl.chat import ChatSession
    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.registry import get_provider, resolve_model
    from llmctl.run.conversations import ConversationOptions, begin

    ref = resolve_model("scripted:chat")
    chat = ChatSession(get_provider(ref, {}), ref, CompletionRequest(""),
                       conversation=begin(ConversationOptions(), True))
    chat.ask("one")
    chat.ask("two")
    chat.command("/reset")
    chat.ask("three")
    conversations = _records(run("logs", "--conversations", "--json").stdout)
    assert sorted(c["turns"] for c in conversations) == [1, 2]
    assert ScriptedProvider.calls[-1] == ("chat", "three")


def test_logs_refuse_a_malformed_or_unknown_cid() -> None:
    run("complete", "-m", "scripted:chat", "hello")
    bad = run("logs", "--cid", "nope")
    assert bad.exit_code == 2
    assert bad.stderr == ("llmctl: error: --cid 'nope' is not a conversation id (26 characters, as `llmctl logs "
                          "--conversations` lists them)\n")
    unknown = run("logs", "--cid", "01JF0000000000000000000000", "--markdown")
    assert unknown.exit_code == 2 and "no such conversation" in unknown.stderr
    assert run("complete", "--cid", "nope", "x").exit_code == 2
