"""Reading input the same way for every text command: arguments, stdin, files, JSONL records."""

from __future__ import annotations

import json
import os
import stat
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
    nul = data.find(b"\0")
    if nul >= 0:
        # UTF-8 allows NUL, but no text a user means to send holds one: this is a binary file.
        raise InputError(f"{source}: binary data (a NUL byte at byte offset {base_offset + nul}); "
                         "llmctl reads UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = base_offset + exc.start
        raise InputError(f"{source}: not valid UTF-8 at byte offset {offset}") from None


#: Piped stdin up to this size is read whole and handled like an argument (the quick path).
SHORT_STDIN_BYTES = 64 << 10


class _Unread:
    """stdin with the bytes a look-ahead took put back in front of it (closing it closes nothing)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data

    def close(self) -> None:
        pass


_stdin_head: list[bytes] = []


def read_short_stdin(limit: int = SHORT_STDIN_BYTES) -> str | None:
    """All of piped stdin as text (final newline dropped) when it is at most `limit` bytes, else None.

    A short input then takes the same path as an argument; a long one is left, bytes put back, for
    a streaming reader (`open_input_binary("-")`), so nothing is read twice or held whole.
    """
    stream = sys.stdin.buffer
    try:
        info = os.fstat(stream.fileno())
        if stat.S_ISREG(info.st_mode) and info.st_size - stream.tell() > limit:
            return None  # a large redirected file: leave it to the per-core file counter
    except (OSError, ValueError, AttributeError):
        pass
    data = stream.read(limit + 1)
    if len(data) > limit:
        _stdin_head.append(data)
        return None
    return decode_utf8(strip_final_newline(data), STDIN_NAME)


def _open_binary(path: str) -> BinaryIO:
    if path == "-":
        if _stdin_head:
            return _Unread(_stdin_head.pop(), sys.stdin.buffer)  # type: ignore[return-value]
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


PROMPT_JOINER = "\n\n"


def _read_piped_stdin(*, optional: bool) -> str:
    """Piped stdin as text, its final newline dropped (as `$(...)` does); "" when nothing was piped.

    `optional`: the arguments are input enough, so a stdin that cannot be read counts as empty.
    """
    try:
        data = sys.stdin.buffer.read()
    except (OSError, AttributeError, ValueError):
        if optional:
            return ""
        raise
    return decode_utf8(strip_final_newline(data), STDIN_NAME)


def _refuse_file_named_as_text(texts: Sequence[str]) -> None:
    for text in texts:
        if text and text != "-" and "\n" not in text and len(text) < 4096 and Path(text).expanduser().exists():
            raise InputError(f"{text!r} names a file but was given as text alongside -f; to read it, "
                             "list it after -f (-f PATH...)")


def collect_inputs(
    texts: Sequence[str] | None,
    files: Sequence[str] | None,
    jsonl: str | None = None,
    field_name: str = "text",
    *,
    allow_empty_text: bool = False,  # `tokenize` counts an empty input (0), other commands refuse it
    join_args: bool = False,
    join_files: bool = False,
) -> list[InputItem]:
    """Gather the inputs of a command in the README's order ("Input").

    Positional texts, then files, then JSONL records. Piped stdin is read when no file or JSONL is
    given: alone it is the input; with positional texts it comes first (as `llm` and `ttok` do).
    `join_args` makes the texts one prompt, stdin first; `join_files` makes several files (then the
    texts) one prompt too, each part separated by a blank line. A text that names an existing file
    while -f is used is refused with a hint: it was almost certainly meant as a file.
    """
    items: list[InputItem] = []
    if files and texts:
        _refuse_file_named_as_text(texts)
    piped = "" if files or jsonl or not stdin_is_piped() else _read_piped_stdin(optional=bool(texts))
    if texts:
        if join_args:
            prompt = " ".join(texts)
            if piped:
                items.append(InputItem(PROMPT_JOINER.join([piped, prompt]), f"{STDIN_NAME} + <argument>"))
            else:
                items.append(InputItem(prompt, "<argument>"))
        else:
            if piped:
                items.append(InputItem(piped, STDIN_NAME))
            items.extend(InputItem(t, f"<argument {i}>") for i, t in enumerate(texts, start=1))
    file_items: list[InputItem] = []
    for index, path in enumerate(files or ()):
        try:
            file_items.append(InputItem(read_file_text(path), source_name(path)))
        except InputError as exc:
            if index and exc.message.endswith("no such file"):
                # `-f a.txt "Summarise"`: -f took the words too; say where they belong.
                raise InputError(exc.message, hint="-f takes every path after it: give a prompt before -f, "
                                                   "or after --") from None
            raise
    if join_files and file_items and (len(file_items) > 1 or items):
        # Several files (and a prompt) to `complete` make one prompt: the files in order, then the words.
        parts = [item.text for item in file_items] + [item.text for item in items]
        sources = [item.source for item in file_items] + [item.source for item in items]
        items = [InputItem(PROMPT_JOINER.join(parts), " + ".join(sources))]
    else:
        items.extend(file_items)
    if jsonl:
        items.extend(iter_jsonl(jsonl, field_name))
        if not items:
            raise InputError(f"{source_name(jsonl)}: no records")
    if not items and piped:
        items.append(InputItem(piped, STDIN_NAME))
    if not items and not texts and not files and not jsonl and stdin_is_piped():
        if not allow_empty_text:
            raise InputError(f"{STDIN_NAME}: empty input")
        items.append(InputItem("", STDIN_NAME))
    if not items:
        raise InputError("no input: give TEXT, -f FILE, --jsonl FILE, or pipe text on stdin")
    if not allow_empty_text:
        for item in items:
            if item.problem is None and not item.text.strip():
                where = item.source if item.line is None else f"{item.source} line {item.line}"
                raise InputError(f"{where}: empty input")
    return items
