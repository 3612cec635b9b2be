"""The SQLite files of the run layer (usage log, response cache): opened one way, shared across threads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmctl.core.config import user_data_dir


def usage_db_path() -> Path:
    """The usage log's database (calls and conversations): `$XDG_DATA_HOME/llmctl/usage.db`."""
    return user_data_dir() / "usage.db"


def open_store(path: Path, schema: str) -> sqlite3.Connection:
    """Open (or create) the database at `path` with its schema.

    WAL lets a reader (`llmctl usage`) run beside a writer; a short busy timeout means a locked
    file costs a warning, never a stalled command.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=0.5, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
