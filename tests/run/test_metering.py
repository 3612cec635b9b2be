"""Every paid call is metered and held to its limits: run-local and chat turns, unbounded output under a
budget, concurrent reservations, and what a compare or `llmctl usage` says of a failure or a missing price.

A priced profile in front of the loopback fault server stands for a user's OpenAI-compatible server:
it reports 11 prompt and 6 completion tokens for every chat answer, at $1 a token each way here.
"""

from __future__ import annotations

import json
import os
import pty
import select
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.scripted_run import ScriptedProvider, run

SERVER_COST = 11 + 6  # dollars: what the fault server's reported usage costs at $1 a token


def _profile(server: Any, name: str = "fake", *, priced: bool = True, key_env: str | None = None,
             per_million: tuple[str, str] = ("1000000", "1000000")) -> str:
    text = f'\n[profiles.{name}]\nkind = "openai"\nbase_url = "{server.base_url}"\n'
    if key_env:
        text += f'key_env = "{key_env}"\n'
    if priced:
        text += (f'prices = "{name}"\n[prices.{name}."ok-a"]\ninput = "{per_million[0]}"\n'
                 f'output = "{per_million[1]}"\nas_of = "2026-11-01"\nsource = "test"\n')
    return text


def _rows(data_dir: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(data_dir / "usage.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM calls ORDER BY id").fetchall()
    finally:
        db.close()


def _chats(server: Any) -> list[Any]:
    return [seen for seen in server.seen if seen.path.endswith("/chat/completions")]


# ------------------------------------------------------------------ 1. run-local and chat turns are metered
def test_run_local_with_an_api_model_is_logged_and_priced(scripted_backend, fault_server, data_dir: Path) -> None:
    scripted_backend(_profile(fault_server))
    result = run("run-local", "fake:ok-a", "--json", "hi")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["cost"]["total"] == SERVER_COST and record["usage"]["input_tokens"] == 11
    rows = _rows(data_dir)
    assert [(r["command"], r["provider"], r["model"], r["cost"]) for r in rows] == [
        ("run-local", "fake", "ok-a", str(SERVER_COST))]
    fault_server.script("stream")  # streamed to stdout: 11 prompt and 4 completion tokens
    human = run("run-local", "fake:ok-a", "hi")
    assert human.exit_code == 0, human.stderr
    assert human.stdout == "Frogs sing at night.\n"
    assert human.stderr.splitlines()[-1].startswith("fake:ok-a · 11 in + 4 out tokens · $15 · ")
    assert _rows(data_dir)[-1]["cost"] == "15"


def test_run_local_refuses_when_the_daily_budget_is_spent(scripted_backend, fault_server) -> None:
    scripted_backend(_profile(fault_server) + f"\n[budget]\ndaily_usd = {SERVER_COST}\n")
    assert run("complete", "-m", "fake:ok-a", "--max-tokens", "5", "hi").exit_code == 0  # spends it all
    fault_server.seen.clear()
    result = run("run-local", "fake:ok-a", "hi")
    assert result.exit_code == 6
    assert result.stderr == (f"llmctl: error: [budget] daily_usd of ${SERVER_COST} is spent (${SERVER_COST} logged); "
                             "nothing was sent\n")
    assert fault_server.seen == []


def test_each_chat_turn_is_metered_and_checked_first(scripted_backend, fault_server, data_dir: Path) -> None:
    from llmctl.chat import ChatSession
    from llmctl.core.errors import BudgetExceededError
    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.registry import get_provider, resolve_model

    scripted_backend(_profile(fault_server) + "\n[budget]\ndaily_usd = 100\n")
    ref = resolve_model("fake:ok-a")
    chat = ChatSession(get_provider(ref, {}), ref, CompletionRequest("", max_tokens=5))
    first = chat.ask("My name is Zorblax.")
    second = chat.ask("What is my name?")
    assert (first.cost, second.cost) == (SERVER_COST, SERVER_COST)
    # The second turn carried the first as history.
    assert [m["role"] for m in _chats(fault_server)[1].body["messages"]] == ["user", "assistant", "user"]
    scripted_backend(_profile(fault_server) + f"\n[budget]\ndaily_usd = {2 * SERVER_COST}\n")
    with pytest.raises(BudgetExceededError, match=r"^\[budget\] daily_usd of \$34 is spent \(\$34 logged\); "
                                                  "nothing was sent$"):
        chat.ask("And now?")
    assert len(_chats(fault_server)) == 2
    assert [(r["command"], r["cost"]) for r in _rows(data_dir)] == [("run-local", "17"), ("run-local", "17")]


def _chat_on_a_terminal(args: list[str], lines: list[str]) -> tuple[int, list[str]]:
    """The interactive chat on a pseudo-terminal: each line sent at its prompt; the exit code, and
    what the terminal showed after each line was sent."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the chat, with this test's config and data dirs from the environment
        os.execv(sys.executable, [sys.executable, "-m", "llmctl", *args])
    seen, screens = b"", []
    deadline = time.monotonic() + 60
    try:
        for line in [*lines, None]:
            start = len(seen)
            # Up to the next prompt; after the last line, up to the end.
            while time.monotonic() < deadline and (line is None or b">>> " not in seen[start:]):
                if not select.select([fd], [], [], 1)[0]:
                    continue
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child has closed the terminal
                    chunk = b""
                if not chunk:
                    break
                seen += chunk
            screens.append(seen[start:].decode(errors="replace"))
            if line is not None:
                os.write(fd, line.encode() + b"\n")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), screens[1:]


def test_the_chat_meters_each_turn_and_goes_on_when_the_budget_is_spent(user_config, fault_server,
                                                                        data_dir: Path) -> None:
    # The chat runs in a child process, which knows no scripted backend: the config names only the profile.
    user_config(_profile(fault_server) + "\n[budget]\ndaily_usd = 15\n")
    fault_server.script("stream")  # 11 prompt and 4 completion tokens: $15, the whole day's budget
    code, screens = _chat_on_a_terminal(["run-local", "fake:ok-a", "--max-tokens", "5"],
                                        ["hi", "and again", "/exit"])
    assert code == 0, screens
    first, second, _ = screens
    assert "Frogs sing at night." in first and "11 in + 4 out tokens · $15 · " in first
    assert "warning: [budget] daily_usd of $15 is spent ($15 logged); nothing was sent" in second
    assert len(_chats(fault_server)) == 1
    assert [(r["command"], r["cost"]) for r in _rows(data_dir)] == [("run-local", "15")]


# ------------------------------------------------------------------ 2. no output bound under a budget
def test_max_cost_with_no_known_output_limit_is_refused(scripted_backend, fault_server) -> None:
    scripted_backend(_profile(fault_server))
    result = run("complete", "-m", "fake:ok-a", "--max-cost", "100", "hi")
    assert result.exit_code == 2
    assert result.stderr == ("llmctl: error: fake:ok-a has no known output limit (no max_output, no context window), "
                             "so --max-cost cannot bound what it may spend; give --max-tokens N; nothing was sent\n")
    assert fault_server.seen == []
    bounded = run("complete", "-m", "fake:ok-a", "--max-cost", "100", "--max-tokens", "7", "hi")
    assert bounded.exit_code == 0, bounded.stderr
    assert [seen.body["max_tokens"] for seen in _chats(fault_server)] == [7]


def test_a_daily_budget_with_no_known_output_limit_is_refused(scripted_backend, fault_server) -> None:
    scripted_backend(_profile(fault_server) + "\n[budget]\ndaily_usd = 100\n")
    for command in (["complete", "-m", "fake:ok-a", "hi"], ["run-local", "fake:ok-a", "hi"]):
        result = run(*command)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.startswith("llmctl: error: fake:ok-a has no known output limit (no max_output, no "
                                        "context window), so [budget] daily_usd cannot bound what it may spend")
    assert fault_server.seen == []


def test_a_task_with_an_uncapped_answer_and_no_known_limit_is_refused(scripted_backend, fault_server) -> None:
    # classify --explain asks an API model for its reason without a cap: nothing bounds what it may spend.
    scripted_backend(_profile(fault_server))
    result = run("classify", "-m", "fake:ok-a", "--labels", "pos,neg", "--explain", "--max-cost", "100000", "fine")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("llmctl: error: fake:ok-a has no known output limit (no max_output, no "
                                    "context window), so --max-cost cannot bound what it may spend")
    assert fault_server.seen == []
    estimate = json.loads(run("classify", "--estimate", "--json", "-m", "fake:ok-a", "--labels", "pos,neg",
                              "--explain", "fine").stdout)
    assert estimate["output_unbounded"] is True and estimate["cost"]["max"] is None


def test_estimate_says_the_output_is_unbounded(scripted_backend, fault_server) -> None:
    scripted_backend(_profile(fault_server))
    line = run("complete", "--estimate", "-m", "fake:ok-a", "hi")
    assert line.exit_code == 0, line.stderr
    assert "and up: output unbounded" in line.stdout
    record = json.loads(run("complete", "--estimate", "--json", "-m", "fake:ok-a", "hi").stdout)
    assert record["max_output_tokens"] is None and record["cost"]["max"] is None
    assert record["output_unbounded"] is True and record["cost"]["min"] > 0
    capped = json.loads(run("complete", "--estimate", "--json", "-m", "fake:ok-a", "--max-tokens", "9", "hi").stdout)
    assert capped["max_output_tokens"] == 9 and "output_unbounded" not in capped
    assert fault_server.seen == []


# ------------------------------------------------------------------ 6. concurrent reservations
def test_concurrent_requests_never_reserve_past_the_limit(scripted_backend, fault_server, tmp_path: Path,
                                                          data_dir: Path) -> None:
    # Output is what costs: the inputs of the whole batch fit the limit, their worst cases do not.
    scripted_backend(_profile(fault_server, per_million=("1", "1000000")))
    fault_server.hang_seconds = 0.3  # every answer is late, so all eight workers ask at once
    fault_server.script("hang")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": i, "text": "hi"}) + "\n" for i in range(12)))
    estimate = json.loads(run("complete", "--estimate", "--json", "-m", "fake:ok-a", "--max-tokens", "10",
                              "--jsonl", str(prompts)).stdout)
    worst = Decimal(str(estimate["per_record"]["cost_max"]))
    allowed = 3
    limit = worst * allowed
    result = run("complete", "-m", "fake:ok-a", "--max-tokens", "10", "--jsonl", str(prompts), "--concurrency", "8",
                 "--max-cost", str(limit), "-o", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 6, result.stderr
    assert len(_chats(fault_server)) == allowed
    spent = sum(Decimal(r["cost"]) for r in _rows(data_dir))
    assert spent == allowed * (Decimal("0.000011") + 6) <= limit


# ------------------------------------------------------------------ 7. failures, missing keys, unpriced models
def test_a_failed_model_in_a_compare_shows_its_error_not_a_cost() -> None:
    result = run("complete", "-m", "scripted:chat", "-m", "scripted:broken", "hi")
    assert result.exit_code == 4
    summary = [line for line in result.stderr.splitlines() if line.startswith("scripted:broken · ")]
    assert len(summary) == 1
    assert summary[0].startswith("scripted:broken · failed: connection reset by peer · ")
    assert "$" not in summary[0] and " in + " not in summary[0]


def test_a_missing_key_in_a_compare_is_exit_3_before_anything_is_sent(scripted_backend, fault_server,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-fake-key")
    monkeypatch.delenv("NOKEY_KEY", raising=False)
    scripted_backend(_profile(fault_server, key_env="FAKE_KEY") + _profile(fault_server, "nokey", key_env="NOKEY_KEY"))
    result = run("complete", "-m", "fake:ok-a", "-m", "nokey:ok-a", "hi")
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == ("llmctl: error: NOKEY_KEY is not set; the profile 'nokey' needs an API "
                                              "key (export NOKEY_KEY=... in your shell)")
    assert fault_server.seen == []
    assert ScriptedProvider.calls == []


def test_usage_shows_a_model_with_no_price_as_unpriced(scripted_backend, fault_server) -> None:
    scripted_backend(_profile(fault_server) + _profile(fault_server, "free", priced=False))
    assert run("complete", "-m", "free:ok-a", "hi").exit_code == 0
    assert run("complete", "-m", "fake:ok-a", "hi").exit_code == 0
    rows = {r["model"]: r for r in map(json.loads, run("usage", "--by", "model", "--json").stdout.splitlines())}
    assert rows["free:ok-a"]["cost"] is None and rows["free:ok-a"]["unpriced_calls"] == 1
    assert rows["fake:ok-a"]["cost"] == SERVER_COST
    table = {line.split("\t")[0]: line.split("\t")[-1] for line in run("usage", "--by", "model").stdout.splitlines()}
    assert table == {"model": "cost", "fake:ok-a": f"${SERVER_COST}", "free:ok-a": "unpriced"}


# ------------------------------------------------------------------ the compare table keeps whole answers
def test_the_compare_table_wraps_whole_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    words = [f"word{i}" for i in range(40)] + ["[bold]", "[/]"]
    result = run("complete", "-m", "scripted:chat", "-m", "scripted:slow-50", "--format", "table", " ".join(words))
    assert result.exit_code == 0, result.stderr
    shown = result.stdout.split()
    for word in words:
        assert shown.count(word.upper()) == 2, word
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 100  # the timings gave way, not the answer
    assert "left out; --format tsv or --json show every column" in result.stderr
