"""What `llmctl logs` reads: stored exchanges found by text (SQLite FTS5), model, day or conversation;
conversations summed; and deleting them (their calls' cost rows stay: that money was spent)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmctl.core.errors import UsageError
from llmctl.core.ulid import is_ulid


@dataclass
class LogQuery:
    """Which exchanges: every filter optional; `limit` 0 means all."""

    limit: int = 10
    text: str | None = None
    model: str | None = None
    since: str | None = None
    until: str | None = None
    cid: str | None = None

    def where(self, joined: bool = False) -> tuple[list[str], list[Any]]:
        """SQL conditions on `exchanges e`; `joined`: the query reads from `exchanges_fts` joined to it."""
        clauses: list[str] = []
        args: list[Any] = []
        if self.text is not None:
            clauses.append("exchanges_fts MATCH ?" if joined else
                           "e.n IN (SELECT rowid FROM exchanges_fts WHERE exchanges_fts MATCH ?)")
            args.append(fts_query(self.text))
        if self.model is not None:
            # `-m gpt-4o-mini` finds openai:gpt-4o-mini as `-m openai:gpt-4o-mini` does.
            clauses.append("(e.model = ? OR e.model LIKE ?)")
            args += [self.model, f"%:{self.model}"]
        if self.since is not None:
            clauses.append("e.at >= ?")
            args.append(day(self.since, "--since"))
        if self.until is not None:
            clauses.append("e.at < ?")
            args.append((dt.date.fromisoformat(day(self.until, "--until")) + dt.timedelta(days=1)).isoformat())
        if self.cid is not None:
            clauses.append("e.conversation = ?")
            args.append(conversation_id(self.cid))
        return clauses, args


def day(value: str, flag: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"{flag} takes a date as YYYY-MM-DD, not {value!r}") from None


def conversation_id(value: str) -> str:
    if not is_ulid(value):
        raise UsageError(f"--cid {value!r} is not a conversation id (26 characters, as `llmctl logs "
                         "--conversations` lists them)")
    return value.upper()


def fts_query(text: str) -> str:
    """Every word of `text` must appear (each quoted, so punctuation is searched for, never parsed)."""
    words = text.split()
    if not words:
        raise UsageError("-q takes words to search for, not an empty string")
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


@dataclass
class ExchangeRow:
    id: str
    conversation: str
    at: str
    command: str
    model: str
    prompt: str | None
    system: str | None
    answer: str | None
    options: dict[str, Any]
    attachments: list[Any]
    tool_calls: list[Any]
    input_tokens: int
    output_tokens: int
    cost: Decimal | None
    currency: str | None
    latency_ms: float | None

    def to_json(self) -> dict[str, Any]:
        cost = None if self.cost is None else {"total": float(self.cost), "currency": self.currency or "USD"}
        return {"id": self.id, "conversation_id": self.conversation, "at": self.at, "command": self.command,
                "model": self.model, "system": self.system, "prompt": self.prompt, "answer": self.answer,
                "options": self.options, "attachments": self.attachments, "tool_calls": self.tool_calls,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                          "total_tokens": self.input_tokens + self.output_tokens},
                "cost": cost, "latency_ms": self.latency_ms}


@dataclass
class ConversationRow:
    id: str
    started: str
    name: str | None
    turns: int
    models: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal | None = Decimal(0)
    unpriced: int = 0
    last: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"conversation_id": self.id, "started": self.started, "last": self.last, "name": self.name,
                "turns": self.turns, "models": self.models, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cost": None if self.cost is None else float(self.cost), "unpriced_turns": self.unpriced}


_COLUMNS = ("e.id, e.conversation, e.at, e.command, e.model, e.prompt, e.system, e.answer, e.options, e.attachments,"
            " e.tool_calls, e.input_tokens, e.output_tokens, e.cost, e.currency, e.latency_ms")


def _open(path: Path, write: bool = False) -> sqlite3.Connection | None:
    """The log's database, or None where it holds no conversations yet."""
    if not path.is_file():
        return None
    try:
        if write:
            db = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        else:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'exchanges'").fetchone() is None:
            db.close()
            return None
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read the usage log {path}: {exc}") from None
    return db


def _target(path: Path | None) -> Path:
    from llmctl.run.store import usage_db_path

    return path or usage_db_path()


def find_exchanges(query: LogQuery, path: Path | None = None) -> list[ExchangeRow]:
    """Matching exchanges, newest first; one conversation (`cid`) reads in its own order, oldest first."""
    target = _target(path)
    searching = query.text is not None
    clauses, args = query.where(joined=searching)
    db = _open(target)
    if db is None:
        return []
    where = " AND ".join(clauses) or "1=1"
    order = "ASC" if query.cid is not None else "DESC"
    # A search walks the full-text index in row order and stops at the limit: the newest matches of a
    # word in every exchange cost no more than those of a rare one.
    source = "exchanges_fts JOIN exchanges e ON e.n = exchanges_fts.rowid" if searching else "exchanges e"
    key = "exchanges_fts.rowid" if searching else "e.n"
    sql = f"SELECT {_COLUMNS} FROM {source} WHERE {where} ORDER BY {key} {order}"  # noqa: S608
    if query.limit and query.cid is None:
        sql += f" LIMIT {int(query.limit)}"
    try:
        rows = db.execute(sql, args).fetchall()
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read the usage log {target}: {exc}") from None
    finally:
        db.close()
    return [ExchangeRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8] or "{}"),
                        json.loads(r[9] or "[]"), json.loads(r[10] or "[]"), r[11], r[12],
                        None if r[13] is None else Decimal(r[13]), r[14], r[15]) for r in rows]


def list_conversations(query: LogQuery, path: Path | None = None) -> list[ConversationRow]:
    """One row per conversation with a matching exchange, the latest first: its turns, models and total cost."""
    target = _target(path)
    clauses, args = query.where()
    db = _open(target)
    if db is None:
        return []
    where = " AND ".join(clauses) or "1=1"
    try:
        rows = db.execute(
            "SELECT c.id, c.started, c.name, e.model, e.input_tokens, e.output_tokens, e.cost, e.at"
            " FROM conversations c JOIN exchanges e ON e.conversation = c.id"
            f" WHERE c.id IN (SELECT e.conversation FROM exchanges e WHERE {where}) ORDER BY e.n",  # noqa: S608
            args).fetchall()
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read the usage log {target}: {exc}") from None
    finally:
        db.close()
    found: dict[str, ConversationRow] = {}
    for cid, started, name, model, tokens_in, tokens_out, cost, at in rows:
        row = found.setdefault(cid, ConversationRow(cid, started, name, 0))
        row.turns += 1
        if model not in row.models:
            row.models.append(model)
        row.input_tokens += tokens_in
        row.output_tokens += tokens_out
        row.last = at
        if cost is None:
            row.unpriced += 1
        elif row.cost is not None:
            row.cost += Decimal(cost)
    for row in found.values():
        if row.unpriced and not row.cost:
            row.cost = None  # only turns of unknown price: the sum is unknown, not $0
    ordered = sorted(found.values(), key=lambda r: r.last, reverse=True)
    return ordered[:query.limit] if query.limit else ordered


def delete(cid: str | None = None, before: str | None = None, path: Path | None = None) -> tuple[int, int]:
    """Remove a conversation, or every exchange before a day; returns (exchanges, conversations) removed.
    The calls' rows stay in the usage log: the spend happened, and budgets count it."""
    if cid is None and before is None:
        raise UsageError("logs rm needs --cid ID or --before YYYY-MM-DD")
    target = _target(path)
    clauses, args = [], []
    if cid is not None:
        clauses.append("conversation = ?")
        args.append(conversation_id(cid))
    if before is not None:
        clauses.append("at < ?")
        args.append(day(before, "--before"))
    db = _open(target, write=True)
    if db is None:
        return 0, 0
    try:
        db.execute("BEGIN IMMEDIATE")
        removed = db.execute(f"DELETE FROM exchanges WHERE {' AND '.join(clauses)}", args).rowcount  # noqa: S608
        gone = db.execute("DELETE FROM conversations WHERE id NOT IN (SELECT conversation FROM exchanges)").rowcount
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise UsageError(f"cannot change the usage log {target}: {exc}") from None
    finally:
        db.close()
    return removed, gone


def as_markdown(rows: list[ExchangeRow], title: str) -> str:
    """Exchanges as a Markdown document: each one's time, model, usage and cost, then its text."""
    from llmctl.core.usage import format_money

    parts = [f"# {title}\n"]
    for row in rows:
        money = "unpriced" if row.cost is None else format_money(row.cost, row.currency or "USD")
        parts.append(f"## {row.at} · {row.model}\n\n{row.input_tokens:,} in + {row.output_tokens:,} out tokens · "
                     f"{money} · conversation `{row.conversation}`\n")
        if row.system:
            parts.append(f"### System\n\n{row.system.strip()}\n")
        parts.append(f"### Prompt\n\n{(row.prompt or '(text not stored)').strip()}\n")
        parts.append(f"### Answer\n\n{(row.answer or '(text not stored)').strip()}\n")
    return "\n".join(parts)
