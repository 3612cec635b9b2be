"""The usage log: one SQLite row for every call that reaches a provider, and what `llmctl usage` reads.

The database is `$XDG_DATA_HOME/llmctl/usage.db` (default `~/.local/share/llmctl/usage.db`).
`[usage] log = false` turns it off; `[usage] log_text = true` keeps the input text in `calls` too.
The same file holds the conversations (`llmctl.run.conversations`): an exchange is written in the
transaction of its call's row. `LLMCTL_NO_LOG=1` (or `--no-log`) stores no exchange, but the call's
cost row is still written, as budgets count it. A locked or broken database costs a warning, never
the command's result.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmctl.core.config import get_config
from llmctl.core.errors import UsageError
from llmctl.core.usage import Cost, Usage
from llmctl.providers.base import ModelRef
from llmctl.run import conversations
from llmctl.run.store import open_store, usage_db_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id            INTEGER PRIMARY KEY,
    at            TEXT    NOT NULL,  -- UTC, ISO 8601 with microseconds
    command       TEXT    NOT NULL,  -- complete, embed, classify, ...
    provider      TEXT    NOT NULL,  -- openai, mistral, gguf, hf, or a profile name
    model         TEXT    NOT NULL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cost          TEXT,              -- decimal string; NULL when the price is unknown
    currency      TEXT,
    latency_ms    REAL,
    cache_hit     INTEGER NOT NULL DEFAULT 0,
    error_type    TEXT,              -- NULL on success; LostRecord: answered, but killed before its
                                     -- record reached the -o file (found by --resume, which sends it again)
    text          TEXT,              -- only with [usage] log_text = true
    run           TEXT,              -- the -o file's run (its FILE.run.json names it); NULL without -o
    records       TEXT               -- with run: the records the call answered, JSON [[model, input], ...]
);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at);
"""

#: Columns added since the first release, with their declarations: added to an older database on open.
ADDED_COLUMNS = {"run": "TEXT", "records": "TEXT"}
LOST_RECORD = "LostRecord"

GROUPS = {"day": "substr(at, 1, 10)", "provider": "provider", "model": "provider || ':' || model",
          "command": "command"}


def logging_enabled() -> bool:
    """Whether calls are logged; LLMCTL_NO_LOG only keeps conversations out (budgets need the costs)."""
    return get_config().run.usage_log


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UsageLog:
    """Appends rows from any thread; after the first database error it warns once and stops."""

    def __init__(self, path: Path | None = None, *, warn: Callable[[str], None] | None = None,
                 keep_text: bool | None = None) -> None:
        self.path = path or usage_db_path()
        self._warn = warn or (lambda message: None)
        self.keep_text = get_config().run.usage_log_text if keep_text is None \
            else keep_text
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.broken = False
        self.rows = 0
        #: the -o file's run id: rows then say which of its records they answered
        self.run: str | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = open_store(self.path, SCHEMA + conversations.SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(calls)")}
            for name, declaration in ADDED_COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE calls ADD COLUMN {name} {declaration}")
            db.execute("CREATE INDEX IF NOT EXISTS calls_run ON calls (run) WHERE run IS NOT NULL")
            self._db = db
        return self._db

    def _failed(self, exc: Exception, exchange: bool = False) -> None:
        self.broken = True
        lost = "; this run is not logged and the exchange is not stored" if exchange else "; this run is not logged"
        self._warn(f"the usage log {self.path} is unusable ({exc}){lost}")

    def record_call(self, command: str, ref: ModelRef, usage: Usage | None, cost: Cost | None,
                    latency_ms: float | None, *, cache_hit: bool = False, error_type: str | None = None,
                    text: str | None = None, records: list[tuple[str, str]] | None = None,
                    exchange: conversations.Exchange | None = None) -> None:
        if self.broken:
            if exchange is not None:
                self._warn(f"the usage log {self.path} is unusable; the exchange is not stored")
            return
        total = cost.total if cost is not None else Decimal(0) if cache_hit or error_type else None
        from llmctl.providers.registry import provider_class

        # A local model is logged by the name the user knows it by, not its file path.
        model = ref.label.split(":", 1)[1] if provider_class(ref.kind).model_is_path else ref.model
        row = (_now(), command, ref.provider, model,
               usage.input_tokens if usage else 0, usage.output_tokens if usage else 0,
               usage.cached_input_tokens if usage else 0, None if total is None else str(total),
               cost.currency if cost is not None else "USD", latency_ms, int(cache_hit), error_type,
               text if self.keep_text else None, self.run,
               json.dumps(records, separators=(",", ":")) if self.run is not None and records else None)
        with self._lock:
            db: sqlite3.Connection | None = None
            try:
                db = self._connect()
                if exchange is not None:
                    db.execute("BEGIN")
                call = db.execute(
                    "INSERT INTO calls (at, command, provider, model, input_tokens, output_tokens, cached_tokens,"
                    " cost, currency, latency_ms, cache_hit, error_type, text, run, records)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
                if exchange is not None:
                    exchange.insert(db, call.lastrowid, row[0], (row[4], row[5], row[7], row[8], row[9]))
                    db.execute("COMMIT")
                self.rows += 1
            except (sqlite3.Error, OSError) as exc:
                if db is not None and db.in_transaction:
                    db.execute("ROLLBACK")
                self._failed(exc, exchange is not None)

    def mark_lost(self, run: str, done: set[tuple[str, str]]) -> int:
        """On `--resume`: the run's answered calls none of whose records reached the file (a kill came
        between logging a call and writing its records) become `LostRecord` rows. Their cost stays,
        as it was paid; the resume sends them again, so the log's answered calls match the file."""
        if self.broken:
            return 0
        with self._lock:
            try:
                db = self._connect()
                rows = db.execute("SELECT id, records FROM calls WHERE run = ? AND error_type IS NULL"
                                  " AND records IS NOT NULL", (run,)).fetchall()
                lost = [row_id for row_id, records in rows
                        if not any(tuple(pair) in done for pair in json.loads(records))]
                db.executemany("UPDATE calls SET error_type = ? WHERE id = ?",
                               [(LOST_RECORD, row_id) for row_id in lost])
            except (sqlite3.Error, OSError, ValueError) as exc:
                self._failed(exc)
                return 0
        return len(lost)

    def spent_since(self, since: str) -> Decimal:
        """Money spent from `since` (an ISO date or time, UTC) on: what budgets are checked against."""
        if self.broken:
            return Decimal(0)
        with self._lock:
            try:
                rows = self._connect().execute("SELECT cost FROM calls WHERE at >= ? AND cost IS NOT NULL",
                                               (since,)).fetchall()
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)
                return Decimal(0)
        return sum((Decimal(r[0]) for r in rows), Decimal(0))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


@dataclass
class UsageRow:
    key: str
    calls: int
    errors: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cost: Decimal | None
    unpriced: int

    def to_json(self, by: str) -> dict[str, Any]:
        return {by: self.key, "calls": self.calls, "errors": self.errors, "cache_hits": self.cache_hits,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cost": float(self.cost) if self.cost is not None else None, "unpriced_calls": self.unpriced}


def _day(value: str, flag: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"{flag} takes a date as YYYY-MM-DD, not {value!r}") from None


def summarize(by: str = "day", since: str | None = None, until: str | None = None,
              path: Path | None = None) -> list[UsageRow]:
    """Spend grouped by day, provider, model or command; `until` is inclusive of its day."""
    if by not in GROUPS:
        raise UsageError(f"--by must be one of {', '.join(GROUPS)}, not {by!r}")
    where, args = ["1=1"], []
    if since:
        where.append("at >= ?")
        args.append(_day(since, "--since"))
    if until:
        end = dt.date.fromisoformat(_day(until, "--until")) + dt.timedelta(days=1)
        where.append("at < ?")
        args.append(end.isoformat())
    target = path or usage_db_path()
    if not target.is_file():
        return []
    try:
        # As a URI, `?`, `#` and `%` in the path would start a query, a fragment, an escape: quoted.
        db = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
        try:
            rows = db.execute(
                f"SELECT {GROUPS[by]} AS k, error_type, cache_hit, input_tokens, output_tokens, cost "  # noqa: S608
                f"FROM calls WHERE {' AND '.join(where)} ORDER BY k", args).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read the usage log {target}: {exc}") from None
    found: dict[str, UsageRow] = {}
    for key, error, hit, tokens_in, tokens_out, cost in rows:
        row = found.setdefault(key, UsageRow(key, 0, 0, 0, 0, 0, Decimal(0), 0))
        row.calls += 1
        row.errors += 1 if error else 0
        row.cache_hits += int(hit)
        row.input_tokens += tokens_in
        row.output_tokens += tokens_out
        if cost is None:
            row.unpriced += 1
        elif row.cost is not None:
            row.cost += Decimal(cost)
    for row in found.values():
        if row.unpriced and not row.cost:
            # Nothing priced was spent beside calls of unknown price: the sum is unknown, not $0.
            row.cost = None
    return list(found.values())
