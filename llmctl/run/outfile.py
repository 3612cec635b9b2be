"""`-o FILE`: one record a line, appended and flushed as each finishes, and `--resume` over it.

Beside the file, `FILE.run.json` says which command, models and settings wrote it, so a resume
refuses a file from another run, and names the run (`run`), which the usage log's rows carry.
An input is known by its `id` field, else by its input line (written as `line` in records
without an `id`), so two inputs with the same `id` would be one input to a resume: `repeated_ids`
finds them before anything is sent.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from llmctl.core.errors import InputError, UsageError
from llmctl.core.inputs import InputItem

SIDECAR_SUFFIX = ".run.json"


def input_key(item: InputItem, index: int) -> str:
    """How a record names its input: the `id` field, else the input's line number."""
    if "id" in item.fields:
        return "id:" + json.dumps(item.fields["id"], sort_keys=True)
    return f"line:{item.line if item.line is not None else index + 1}"


def repeated_ids(items: Sequence[InputItem]) -> list[list[int]]:
    """The indices of the inputs that share an `id`, one list per such id, ordered by where the
    first repeat is found (the earliest input whose id came before)."""
    by_key: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if "id" in item.fields:
            by_key.setdefault(input_key(item, index), []).append(index)
    return sorted((found for found in by_key.values() if len(found) > 1), key=lambda found: found[1])


def _id_text(item: InputItem) -> str:
    text = json.dumps(item.fields["id"], ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:79] + "…"


def _places(items: Sequence[InputItem], indices: Sequence[int]) -> str:
    lines = [items[i].line for i in indices]
    named = [str(line) for line in lines] if None not in lines else [str(i + 1) for i in indices]
    listed = f"{', '.join(named[:-1])} and {named[-1]}" if len(named) > 1 else named[0]
    word = "line" if None not in lines else "input"
    return f"{word}{'s' if len(named) > 1 else ''} {listed}"


def drop_repeated_ids(items: Sequence[InputItem], *, dedupe: bool, warn: Callable[[str], None]) -> set[int]:
    """Refuse inputs that share an `id` (exit 2, naming the first repeated id and its lines), or with
    `dedupe` keep the first input of each id: the indices of the inputs to leave out, said on `warn`."""
    repeats = repeated_ids(items)
    if not repeats:
        return set()
    first = repeats[0]
    item = items[first[0]]
    if not dedupe:
        others = len(repeats) - 1
        more = f" ({others} more id{'s repeat' if others > 1 else ' repeats'})" if others else ""
        raise InputError(f"{item.source}: id {_id_text(item)} is on {_places(items, first)}{more}; each record needs "
                         "its own id (--dedupe keeps the first of each and drops the rest)")
    dropped = {index for found in repeats for index in found[1:]}
    count = len(dropped)
    warn(f"--dedupe: dropped {count} record{'s' if count > 1 else ''} whose id an earlier record has "
         f"(the first: id {_id_text(item)} on {_places(items, first[1:])}, kept on {_places(items, first[:1])})")
    return dropped


def _record_key(record: dict[str, Any]) -> str | None:
    if "id" in record:
        return "id:" + json.dumps(record["id"], sort_keys=True)
    if isinstance(record.get("line"), int):
        return f"line:{record['line']}"
    return None


class OutputFile:
    """The records of one run in a JSONL file that a later `--resume` can finish."""

    def __init__(self, path: str, description: dict[str, Any]) -> None:
        self.path = Path(path).expanduser()
        self.sidecar = self.path.with_name(self.path.name + SIDECAR_SUFFIX)
        self.description = description
        self._fh: IO[str] | None = None
        self._resume = False
        #: the run's name in the usage log: new for a fresh file, the sidecar's on a resume (None for
        #: a file begun before runs were named)
        self.run_id: str | None = uuid.uuid4().hex
        #: on a resume, the (model label, input key) pairs the file holds
        self.done: set[tuple[str, str]] = set()

    @property
    def resuming(self) -> bool:
        """Whether `plan` found a file to finish (appended to, not started afresh)."""
        return self._resume

    # ------------------------------------------------------------------ resume
    def _check_description(self) -> None:
        if not self.sidecar.is_file():
            raise UsageError(f"{self.path}: cannot resume: no {self.sidecar.name} beside it, so it was not "
                             "written by llmctl -o")
        try:
            found = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{self.sidecar}: cannot read the run description: {exc}") from None
        run = found.get("run")
        self.run_id = run if isinstance(run, str) else None
        want = self.description
        if found.get("command") != want["command"]:
            raise UsageError(f"{self.path} was written by `llmctl {found.get('command')}`, not "
                             f"`llmctl {want['command']}`; cannot resume it")
        if sorted(found.get("models", [])) != sorted(want["models"]):
            raise UsageError(f"{self.path} was written for models {', '.join(found.get('models', []))}, not "
                             f"{', '.join(want['models'])}; cannot resume it")
        theirs, ours = found.get("settings", {}), want["settings"]
        for key in sorted(set(theirs) | set(ours)):
            if theirs.get(key) != ours.get(key):
                raise UsageError(f"{self.path} was written with {key}={json.dumps(theirs.get(key))}, not "
                                 f"{json.dumps(ours.get(key))}; cannot resume it")
        then, now = found.get("model_files", {}), want.get("model_files", {})
        for label in sorted(set(then) & set(now)):
            if then[label] != now[label]:
                raise UsageError(f"{self.path}: the files of model {label} have changed since this file was "
                                 "begun; resuming would mix two models' answers (write to a new file)")

    def _read_done(self, retry_failed: bool) -> tuple[set[tuple[str, str]], int]:
        """What is already in the file; a torn last line (a kill mid-write) is cut off."""
        done: set[tuple[str, str]] = set()
        kept: list[bytes] = []
        failed = 0
        with self.path.open("rb") as fh:
            data = fh.read()
        lines = data.split(b"\n")
        torn = lines.pop() if lines else b""
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                raise InputError(f"{self.path} line {number}: not JSON, so not a file llmctl -o wrote") from None
            if not isinstance(record, dict) or "model" not in record:
                raise InputError(f"{self.path} line {number}: not a record llmctl -o wrote")
            key = _record_key(record)
            if key is None:
                raise InputError(f"{self.path} line {number}: the record has neither `id` nor `line`")
            if retry_failed and record.get("error"):
                failed += 1
                continue
            done.add((record["model"], key))
            kept.append(raw)
        if torn or failed:
            # Rewrite without the torn line and the records to retry, then swap it in at once.
            scratch = self.path.with_name(self.path.name + ".tmp")
            with scratch.open("wb") as out:
                out.write(b"".join(line + b"\n" for line in kept))
                out.flush()
                os.fsync(out.fileno())
            os.replace(scratch, self.path)
        return done, failed

    def plan(self, items: Sequence[InputItem], *, resume: bool, retry_failed: bool = False
             ) -> set[tuple[str, int]]:
        """With `resume`, the (model, input index) pairs the file already holds; nothing is written yet."""
        self._resume = resume and self.path.exists()
        skip: set[tuple[str, int]] = set()
        if self.path.is_dir():
            raise UsageError(f"-o {self.path}: is a directory")
        parent = self.path.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK) or (
                self.path.exists() and not os.access(self.path, os.W_OK)):
            raise UsageError(f"-o {self.path}: cannot write there")
        if self._resume:
            self._check_description()
            done, _ = self._read_done(retry_failed)
            self.done = done
            for index, item in enumerate(items):
                key = input_key(item, index)
                for model in self.description["models"]:
                    if (model, key) in done:
                        skip.add((model, index))
        return skip

    def open(self) -> None:
        """Start writing: append to a resumed file, else start it afresh with its description."""
        if not self._resume:
            self._write_sidecar()
        try:
            self._fh = self.path.open("a" if self._resume else "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {self.path}: cannot write: {exc.strerror}") from None

    def _write_sidecar(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.sidecar.write_text(json.dumps({**self.description, "run": self.run_id}, sort_keys=True) + "\n",
                                    encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {self.path}: cannot write: {exc.strerror}") from None

    # ------------------------------------------------------------------ writing
    def write(self, item: InputItem, index: int, record: dict[str, Any]) -> None:
        assert self._fh is not None
        if "id" not in record:
            record = {**record, "line": item.line if item.line is not None else index + 1}
        self._fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
