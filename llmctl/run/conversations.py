"""Conversations: every exchange of `complete` and `run-local` kept in the usage log's database, and
`-c`/`--cid` picking one up again on any model.

An exchange is stored by the usage log in the same transaction as its call's row (see
`UsageLog.record_call`), so the cost in `llmctl logs` and in `llmctl usage` is one figure. Text is kept
unless `[logs] store_text = false`; `--no-log` or `LLMCTL_NO_LOG=1` stores no exchange at all (the call's
cost row is still written: budgets count it; `[usage] log = false` turns that off too).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmctl.core.config import get_config
from llmctl.core.errors import UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.ulid import is_ulid, new_ulid

if TYPE_CHECKING:
    from llmctl.providers.base import CompletionRequest
    from llmctl.run.session import Session

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id       TEXT PRIMARY KEY,            -- ULID
    started  TEXT NOT NULL,               -- UTC, ISO 8601
    name     TEXT                         -- the first prompt's first line; NULL without text
);
CREATE TABLE IF NOT EXISTS exchanges (
    n             INTEGER PRIMARY KEY,    -- stable row number (the full-text index points at it)
    id            TEXT NOT NULL UNIQUE,   -- ULID
    conversation  TEXT NOT NULL,          -- conversations.id
    call          INTEGER,                -- calls.id: the usage log's row of this exchange
    at            TEXT NOT NULL,
    command       TEXT NOT NULL,          -- complete or run-local
    model         TEXT NOT NULL,          -- provider:model, as -m takes it
    prompt        TEXT,                   -- NULL with [logs] store_text = false
    system        TEXT,
    answer        TEXT,
    options       TEXT,                   -- JSON: the settings sent (temperature, max_tokens, ...)
    attachments   TEXT,                   -- JSON list: type, path or URL, sha256 (never the bytes)
    tool_calls    TEXT,                   -- JSON list: each call, its arguments and result
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost          TEXT,                   -- decimal string, as in calls.cost; NULL when unknown
    currency      TEXT,
    latency_ms    REAL
);
CREATE INDEX IF NOT EXISTS exchanges_conversation ON exchanges (conversation, n);
CREATE INDEX IF NOT EXISTS exchanges_at ON exchanges (at);
CREATE VIRTUAL TABLE IF NOT EXISTS exchanges_fts USING fts5(prompt, answer, content='exchanges', content_rowid='n');
CREATE TRIGGER IF NOT EXISTS exchanges_added AFTER INSERT ON exchanges BEGIN
    INSERT INTO exchanges_fts (rowid, prompt, answer) VALUES (new.n, new.prompt, new.answer);
END;
CREATE TRIGGER IF NOT EXISTS exchanges_removed AFTER DELETE ON exchanges BEGIN
    INSERT INTO exchanges_fts (exchanges_fts, rowid, prompt, answer) VALUES ('delete', old.n, old.prompt, old.answer);
END;
"""


def conversations_enabled(no_log: bool = False) -> bool:
    """Whether exchanges are stored: not with --no-log or LLMCTL_NO_LOG=1, nor with the usage log off."""
    from llmctl.run.usage_log import logging_enabled

    if no_log or os.environ.get("LLMCTL_NO_LOG", "").strip() not in ("", "0"):
        return False
    return logging_enabled()


def store_text() -> bool:
    return get_config().run.logs_store_text


@dataclass
class Exchange:
    """One prompt and its answer, as the usage log stores it beside the call's row."""

    conversation: str
    command: str
    model: str
    prompt: str | None
    system: str | None
    answer: str | None
    options: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    id: str = field(default_factory=new_ulid)

    def insert(self, db: sqlite3.Connection, call: int | None, at: str, row: tuple[Any, ...]) -> None:
        """Write the exchange (and its conversation, when new) in the caller's transaction;
        `row` is the call's (input_tokens, output_tokens, cost, currency, latency_ms)."""
        name = self.prompt.strip().splitlines()[0][:200] if self.prompt and self.prompt.strip() else None
        db.execute("INSERT OR IGNORE INTO conversations (id, started, name) VALUES (?,?,?)",
                   (self.conversation, at, name))
        db.execute(
            "INSERT INTO exchanges (id, conversation, call, at, command, model, prompt, system, answer, options,"
            " attachments, tool_calls, input_tokens, output_tokens, cost, currency, latency_ms)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self.id, self.conversation, call, at, self.command, self.model, self.prompt, self.system, self.answer,
             _json(self.options), _json(self.attachments), _json(self.tool_calls), *row))


def _json(value: Any) -> str | None:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else None


@dataclass
class ConversationLink:
    """The conversation a job's single prompt belongs to: its id, and the turns sent before it.

    `store` false: the history is sent (a `-c` with --no-log) but the new exchange is not kept."""

    id: str
    history: list[dict[str, str]] = field(default_factory=list)
    system: str | None = None
    #: the model of its last exchange (`-c` without -m goes on with it)
    model: str | None = None
    store: bool = True
    keep_text: bool = True

    @property
    def turns(self) -> int:
        return len(self.history) // 2

    def exchange(self, command: str, model: str, prompt: str, settings: dict[str, Any],
                 answer: str | None) -> Exchange | None:
        if not self.store:
            return None
        options = {k: v for k, v in settings.items() if k != "system" and v not in (None, [], {})}
        system = settings.get("system")
        if not self.keep_text:
            return Exchange(self.id, command, model, None, None, None, options)
        return Exchange(self.id, command, model, prompt, system, answer, options)


@dataclass
class ConversationOptions:
    """What the command line asked of conversations."""

    continue_last: bool = False
    cid: str | None = None
    no_log: bool = False
    truncate_history: bool = False

    @property
    def continuing(self) -> bool:
        return self.continue_last or self.cid is not None


def _read_db(path: Path) -> sqlite3.Connection | None:
    if not path.is_file():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5)
    has = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'exchanges'").fetchone()
    if has is None:
        db.close()
        return None
    return db


def read_conversation(cid: str | None, path: Path | None = None) -> ConversationLink:
    """The stored conversation `cid` (None: the latest), as a link whose history holds every turn.

    No earlier conversation, an unknown id, or one stored without text: exit 2."""
    from llmctl.run.store import usage_db_path

    target = path or usage_db_path()
    if cid is not None and not is_ulid(cid):
        raise UsageError(f"--cid {cid!r} is not a conversation id (26 characters, as `llmctl logs "
                         "--conversations` lists them)")
    try:
        db = _read_db(target)
        if db is None:
            rows: list[tuple[Any, ...]] = []
        else:
            try:
                if cid is None:
                    last = db.execute("SELECT conversation FROM exchanges ORDER BY n DESC LIMIT 1").fetchone()
                    cid = last[0] if last else None
                rows = db.execute("SELECT prompt, answer, system, model FROM exchanges WHERE conversation = ?"
                                  " ORDER BY n", (cid.upper(),)).fetchall() if cid else []
            finally:
                db.close()
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read conversations from the usage log {target}: {exc}") from None
    if not rows:
        if cid is None:
            raise UsageError(f"-c/--continue: there is no earlier conversation in {target}; "
                             "ask without -c to start one")
        raise UsageError(f"--cid {cid}: no such conversation in {target} (`llmctl logs --conversations` "
                         "lists them)")
    assert cid is not None  # rows were found by it
    history: list[dict[str, str]] = []
    for prompt, answer, _system, _model in rows:
        if prompt is None:
            raise UsageError(f"conversation {cid} was stored without its text ([logs] store_text = false), "
                             "so it cannot be continued")
        history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer or ""}]
    system = next((row[2] for row in reversed(rows) if row[2]), None)
    return ConversationLink(cid.upper(), history, system, rows[-1][3])


def open_conversation(options: ConversationOptions) -> ConversationLink:
    """The conversation a single prompt goes into: a stored one (`-c`, `--cid`), else a new one."""
    link = read_conversation(options.cid) if options.continuing else ConversationLink(new_ulid())
    link.store = conversations_enabled(options.no_log)
    link.keep_text = store_text()
    return link


def with_history(request: CompletionRequest, link: ConversationLink) -> CompletionRequest:
    """The request carrying the conversation so far; a new -s/--system wins over the stored one."""
    return dataclasses.replace(request, history=list(link.history), system=request.system or link.system)


#: bytes a chat message's framing may cost beyond its text (role and markers), for the quick bound
FRAMING_BOUND = 16


def fit_history(session: Session, item: InputItem, truncate: bool, warn: Callable[[str], None]) -> int:
    """Refuse (exit 2) a conversation too long for the model's window, or with `truncate` drop its oldest
    turns until it fits (said on stderr); returns how many turns were dropped.

    Tokens never outnumber UTF-8 bytes much, so most histories are seen to fit without a tokenizer;
    only one near the window is counted exactly."""
    job = session.job
    template: CompletionRequest = getattr(job, "template")  # noqa: B009 - a CompleteJob's
    target = session.targets[0]
    window = target.ref.context_window
    if window is None:
        try:
            window = getattr(target.provider.tokenizer(target.ref), "context_window", None)
        except Exception:  # noqa: BLE001 - no tokenizer, no window known: the server will say
            window = None
    if not window or not template.history:
        return 0

    def quick_bound() -> int:
        texts = [m["content"] for m in template.history] + [item.text, template.system or ""]
        return sum(len(t.encode("utf-8")) + FRAMING_BOUND for t in texts)

    def counted() -> int:
        return session.estimate([item])[0].largest_input

    dropped = 0
    while True:
        size = quick_bound()
        if size < window:
            break
        size = counted()
        if size < window:
            break
        if not truncate or not template.history:
            raise UsageError(f"the conversation with this prompt is {size:,} tokens and {target.ref.label}'s "
                             f"context window is {window:,}; --truncate-history drops its oldest turns, or "
                             "ask without -c/--cid")
        template.history = template.history[2:]
        dropped += 1
    if dropped:
        warn(f"dropped the oldest {dropped} turn{'s' if dropped > 1 else ''} of the conversation to fit "
             f"{target.ref.label}'s {window:,}-token context window")
    return dropped


def prepare(session: Session, items: Sequence[InputItem], link: ConversationLink | None,
            options: ConversationOptions, warn: Callable[[str], None]) -> None:
    """Attach the conversation to a single-prompt run (history sent, exchange stored) and check it fits."""
    if link is None:
        return
    job = session.job
    job.conversation = link
    if options.continuing and len(items) == 1:
        fit_history(session, items[0], options.truncate_history, warn)


def begin(options: ConversationOptions, single: bool) -> ConversationLink | None:
    """The conversation of a run: none for a batch or a compare (refused with -c/--cid), else the one
    continued or a new one; None too where nothing would be stored and nothing is continued."""
    if not single:
        if options.continuing:
            raise UsageError("-c/--continue and --cid go on with one conversation: one prompt to one model "
                             "(not --jsonl, --each, -o, --batch-api or several models)")
        return None
    if not options.continuing and not conversations_enabled(options.no_log):
        return None
    return open_conversation(options)


def attach(options: ConversationOptions, request: CompletionRequest, models: list[str] | None, single: bool
           ) -> tuple[ConversationLink | None, CompletionRequest, list[str] | None]:
    """The run's conversation, its request with the stored turns, and its models (a continued
    conversation's own when none is named)."""
    link = begin(options, single)
    if link is None or not options.continuing:
        return link, request, models
    return link, with_history(request, link), models or ([link.model] if link.model else None)
