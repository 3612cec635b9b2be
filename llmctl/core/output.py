"""Writing results: data to stdout (raw text, JSON/JSONL, TSV), everything for humans to stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

TableFormat = Literal["auto", "table", "tsv"]


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def plural(count: int, word: str) -> str:
    """`1 token`, `2 tokens`, `1,024 tokens`."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _tsv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("\t", " ").replace("\n", " ")


@dataclass
class Output:
    """The one place commands write through, so --json/--quiet/--format mean the same everywhere."""

    json_mode: bool = False
    quiet: bool = False
    verbose: bool = False
    table_format: TableFormat = "auto"
    #: When the command began (time.perf_counter), for the wall time its summary starts with.
    started: float = field(default_factory=time.perf_counter)

    # ------------------------------------------------------------------ stdout
    def write(self, text: str) -> None:
        """Raw data (model text, counts) to stdout, never through Rich markup."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def line(self, text: str) -> None:
        self.write(text + "\n")

    def record(self, data: dict[str, Any]) -> None:
        """One JSON object per line."""
        self.line(json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def stdout_is_tty(self) -> bool:
        return _is_tty(sys.stdout)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None,
              right_align: Sequence[str] = (), no_wrap: Sequence[str] = (), droppable: Sequence[str] = (),
              wrap_at: int | None = None) -> None:
        """A Rich table on a terminal, TSV (with a header line) in a pipe or with --format tsv.

        Cells wrap between words; `no_wrap` columns (names a user copies) are never broken at all.
        On a terminal too narrow for the whole table, `droppable` columns are left out, in that
        order, until it fits (stderr says which; TSV and --json always carry every column); with
        `wrap_at`, a column that wraps counts at most that wide there (a long answer need not be one line)."""
        as_tsv = self.table_format == "tsv" or (self.table_format == "auto" and not self.stdout_is_tty())
        if as_tsv:
            self.line("\t".join(columns))
            for row in rows:
                self.line("\t".join(_tsv_cell(c) for c in row))
            return
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console(file=sys.stdout, highlight=False)
        cells = [["" if c is None else str(c) for c in row] for row in rows]
        keep = list(range(len(columns)))

        def natural(index: int) -> int:
            width = max([len(columns[index]), *(len(row[index]) for row in cells)])
            return min(width, wrap_at) if wrap_at and columns[index] not in no_wrap else width

        dropped = []
        for name in droppable:
            if sum(natural(i) + 3 for i in keep) + 1 <= console.width or name not in columns:
                break
            keep.remove(columns.index(name))
            dropped.append(name)
        if dropped:
            self.info(f"(a narrow terminal: {', '.join(dropped)} left out; --format tsv or --json show every column)")
        table = Table(title=title, show_lines=False, header_style="bold")
        for index in keep:
            name = columns[index]
            # Short words set the least width, so text wraps between words; paths may still fold.
            longest = max([len(name), *(len(word) for row in cells for word in row[index].split())])
            table.add_column(name, justify="right" if name in right_align else "left", no_wrap=name in no_wrap,
                             overflow="ellipsis" if name in no_wrap else "fold",
                             min_width=longest if name not in no_wrap and longest <= 16 else None)
        for row in cells:
            # Text, not markup: a cell holds what a model or a user wrote ("[/]" is no closing tag).
            table.add_row(*(Text(row[index]) for index in keep))
        console.print(table)

    # ------------------------------------------------------------------ stderr
    def _err(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def summary(self, text: str) -> None:
        """The closing usage/cost line of human mode; --quiet and --json drop it."""
        if not self.quiet and not self.json_mode:
            self._err(text)

    def info(self, text: str) -> None:
        if not self.quiet:
            self._err(text)

    def warn(self, text: str) -> None:
        """A warning; --quiet means nothing on stderr but errors, so it drops warnings too."""
        if not self.quiet:
            self._err(f"warning: {text}")

    def debug(self, text: str) -> None:
        if self.verbose:
            self._err(f"· {text}")

    @contextmanager
    def spinner(self, text: str) -> Iterator[None]:
        """A spinner on stderr while something slow (a model load) runs; silent when not a terminal."""
        if self.quiet or not _is_tty(sys.stderr):
            yield
            return
        from rich.console import Console

        with Console(file=sys.stderr).status(text, spinner="dots"):
            yield
