"""The response cache: deterministic requests answered from SQLite instead of paid for twice.

A completion is deterministic when its temperature is 0 or it carries a seed; embeddings always
are. The key is a SHA-256 of the provider, endpoint (the command), model, every setting of the
request and the input text; for a local model (a file or folder) also the size and modification
time of its files, so a model re-written at the same path is a different model to the cache.
The database is `$XDG_DATA_HOME/llmctl/cache.db`, kept under `[cache] max_mb` (default 512) by
dropping the least recently used entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmctl.core.config import get_config, user_data_dir
from llmctl.providers.base import ModelRef
from llmctl.run.store import open_store

DEFAULT_MAX_MB = 512


def _max_mb(configured: int | float | None) -> int | float:
    return DEFAULT_MAX_MB if configured is None else configured


#: how many stores between two size checks
TRIM_EVERY = 200


def model_fingerprint(ref: ModelRef) -> str | None:
    """Size and modification time of a local model's file, or of every file directly in its folder
    (where HF keeps config, weights and tokenizer); None for an API model or a name that is no
    local path (a hub id)."""
    from llmctl.providers.registry import provider_class

    if not provider_class(ref.kind).model_is_path:  # its files are part of the key
        return None
    try:
        found = os.stat(ref.model)
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(found.st_mode):
        return f"{found.st_size}:{found.st_mtime_ns}:{found.st_ino}"
    parts = []
    with os.scandir(ref.model) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_file():
                info = entry.stat()
                parts.append(f"{entry.name}:{info.st_size}:{info.st_mtime_ns}:{info.st_ino}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key       TEXT PRIMARY KEY,
    provider  TEXT NOT NULL,
    model     TEXT NOT NULL,
    command   TEXT NOT NULL,
    value     TEXT NOT NULL,     -- JSON: the record's result fields, usage and cost when it was paid
    size      INTEGER NOT NULL,
    created   REAL NOT NULL,
    used      REAL NOT NULL,
    label     TEXT NOT NULL DEFAULT ''   -- the model as the user named it (`gguf:smollm2`), for stats
);
CREATE INDEX IF NOT EXISTS responses_used ON responses (used);
"""


def cache_db_path() -> Path:
    return user_data_dir() / "cache.db"


def cache_enabled() -> bool:
    return get_config().run.cache_enabled


class ResponseCache:
    """Thread-safe get/put; a database error warns once and turns the cache off for the run."""

    def __init__(self, path: Path | None = None, *, max_bytes: int | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.path = path or cache_db_path()
        if max_bytes is None:
            max_bytes = int(float(_max_mb(get_config().run.cache_max_mb)) * 1024 * 1024)
        self.max_bytes = max_bytes
        self._warn = warn or (lambda message: None)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._stores = 0
        self.broken = False

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            db = open_store(self.path, SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(responses)")}
            if "label" not in columns:  # a cache written before entries carried the model's name
                db.execute("ALTER TABLE responses ADD COLUMN label TEXT NOT NULL DEFAULT ''")
            self._db = db
        return self._db

    def _failed(self, exc: Exception) -> None:
        self.broken = True
        self._warn(f"the response cache {self.path} is unusable ({exc}); answers are not cached")

    @staticmethod
    def key(job: Any, ref: ModelRef, text: str, files: str | None = None) -> str:
        """`files`: the model's fingerprint as its run found it (a run takes it once); without
        it the files are looked at now."""
        endpoint = ref.settings.base_url or ref.provider
        blob = json.dumps({"provider": ref.provider, "endpoint": endpoint, "command": job.command,
                           "model": ref.model, "files": files or model_fingerprint(ref),
                           "settings": job.settings(), "input": text},
                          sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        if self.broken:
            return None
        with self._lock:
            try:
                db = self._connect()
                row = db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
                if row is None:
                    return None
                db.execute("UPDATE responses SET used = ? WHERE key = ?", (time.time(), key))
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)
                return None
        found: dict[str, Any] = json.loads(row[0])
        return found

    def put(self, key: str, value: dict[str, Any], *, ref: ModelRef | None = None, command: str = "") -> None:
        if self.broken:
            return
        blob = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        now = time.time()
        with self._lock:
            try:
                db = self._connect()
                db.execute("INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?)",
                           (key, ref.provider if ref else "", ref.model if ref else "", command, blob, len(blob),
                            now, now, ref.label if ref else ""))
                self._stores += 1
                if self._stores % TRIM_EVERY == 1:
                    self._trim(db)
            except (sqlite3.Error, OSError) as exc:
                self._failed(exc)

    def _trim(self, db: sqlite3.Connection) -> None:
        total = db.execute("SELECT COALESCE(SUM(size), 0) FROM responses").fetchone()[0]
        if total <= self.max_bytes:
            return
        # Drop the least recently used until the rest fits in nine tenths of the cap.
        target = total - int(self.max_bytes * 0.9)
        db.execute("DELETE FROM responses WHERE key IN (SELECT key FROM (SELECT key, SUM(size) OVER "
                   "(ORDER BY used, key) AS running FROM responses) WHERE running - size < ?)", (target,))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            db = self._connect()
            count, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM responses").fetchone()
            # Entries from before the label column name the model as resolved (a path for a local one).
            by_model = db.execute("SELECT CASE WHEN label != '' THEN label ELSE provider || ':' || model END, "
                                  "COUNT(*), SUM(size) FROM responses GROUP BY 1 ORDER BY 1").fetchall()
        return {"path": str(self.path), "entries": count, "bytes": size, "max_bytes": self.max_bytes,
                "models": [{"model": m, "entries": n, "bytes": b} for m, n, b in by_model]}

    def clear(self) -> int:
        with self._lock:
            db = self._connect()
            removed = db.execute("DELETE FROM responses").rowcount
            db.execute("VACUUM")
        return int(removed)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
