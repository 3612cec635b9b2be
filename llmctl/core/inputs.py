"""Reading input the same way for every text command: arguments, stdin, files, JSONL records."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from llmctl.core.errors import InputError

STDIN_NAME = "<stdin>"


@dataclass
class InputItem:
    """One text to work on, where it came from, and the JSONL fields to carry to the output."""

    text: str
    source: str
    line: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    #: why a batch record cannot be sent (empty, null, not a string): it becomes that record's error
    problem: str | None = None


def decode_utf8(data: bytes, source: str, *, base_offset: int = 0) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = base_offset + exc.start
        raise InputError(f"{source}: not valid UTF-8 at byte offset {offset}") from None


def _open_binary(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    target = Path(path).expanduser()
    if target.is_dir():
        raise InputError(f"{path}: is a directory, not a file")
    try:
        return target.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def source_name(path: str) -> str:
    return STDIN_NAME if path == "-" else path


def read_file_text(path: str) -> str:
    fh = _open_binary(path)
    try:
        data = fh.read()
    except OSError as exc:
        raise InputError(f"{source_name(path)}: cannot read: {exc.strerror}") from None
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()
    return decode_utf8(data, source_name(path))


def open_input_binary(path: str) -> BinaryIO:
    """Open a file (or `-`) for streaming readers; the caller closes it unless it is stdin."""
    return _open_binary(path)


def iter_jsonl(path: str, field_name: str) -> Iterator[InputItem]:
    """Yield one item per JSONL record; every other field is carried along."""
    name = source_name(path)
    fh = _open_binary(path)
    try:
        offset = 0
        for number, raw in enumerate(fh, start=1):
            line = decode_utf8(raw, f"{name} line {number}", base_offset=0)
            offset += len(raw)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{name} line {number}: invalid JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise InputError(f"{name} line {number}: each line must be a JSON object")
            if field_name not in record:
                raise InputError(f"{name} line {number}: no field {field_name!r} (choose one with --field)")
            value = record.pop(field_name)
            problem = None
            if not isinstance(value, str):
                kind = "null" if value is None else type(value).__name__
                problem = f"{name} line {number}: field {field_name!r} must be a string, not {kind}"
            elif not value.strip():
                problem = f"{name} line {number}: empty input"
            yield InputItem(text=value if isinstance(value, str) else "", source=name, line=number, fields=record,
                            problem=problem)
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


class FinalNewlineStripped:
    """A binary reader that drops one newline (\\n or \\r\\n) at the very end of the stream.

    `echo text | llmctl ...` means "text": like shell command substitution, the newline that
    echo adds is not part of the input. Files named with -f are read exactly as they are.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._held = b""

    def read(self, size: int = -1) -> bytes:
        while True:
            fresh = self._stream.read(size)
            data = self._held + fresh
            if not fresh or size < 0:
                # The stream is done: drop the final newline and hand out the rest.
                self._held = b""
                return strip_final_newline(data)
            keep = 2 if data.endswith(b"\r\n") else 1 if data.endswith((b"\n", b"\r")) else 0
            self._held = data[len(data) - keep :] if keep else b""
            if len(data) > keep:
                return data[: len(data) - keep]


def strip_final_newline(data: bytes) -> bytes:
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def stdin_is_piped() -> bool:
    stream = sys.stdin
    if stream is None or stream.closed:
        return False
    try:
        return not stream.isatty()
    except (ValueError, OSError):
        return False


def collect_inputs(
    texts: Sequence[str] | None,
    files: Sequence[str] | None,
    jsonl: str | None = None,
    field_name: str = "text",
    *,
    allow_empty_text: bool = False,
    join_args: bool = False,
) -> list[InputItem]:
    """Gather the inputs of a command as DESIGN.md orders them.

    Positional texts, then files, then JSONL; stdin only when none of them is given and stdin is
    not a terminal. `join_args` makes several positional words one text (for prompts).
    """
    items: list[InputItem] = []
    if texts:
        if join_args:
            items.append(InputItem(" ".join(texts), "<argument>"))
        else:
            items.extend(InputItem(t, f"<argument {i}>") for i, t in enumerate(texts, start=1))
    for path in files or ():
        items.append(InputItem(read_file_text(path), source_name(path)))
    if jsonl:
        items.extend(iter_jsonl(jsonl, field_name))
        if not items:
            raise InputError(f"{source_name(jsonl)}: no records")
    if not items and stdin_is_piped():
        data = strip_final_newline(sys.stdin.buffer.read())
        items.append(InputItem(decode_utf8(data, STDIN_NAME), STDIN_NAME))
    if not items:
        raise InputError("no input: give TEXT, -f FILE, --jsonl FILE, or pipe text on stdin")
    if not allow_empty_text:
        for item in items:
            if item.problem is None and not item.text.strip():
                where = item.source if item.line is None else f"{item.source} line {item.line}"
                raise InputError(f"{where}: empty input")
    return items
