"""Reading what the user types in a chat: line editing and history (stdlib readline), multi-line input.

A line ending in a backslash continues on the next line; a line that is just \"\"\" opens a block
that the next such line closes. History is kept in $XDG_STATE_HOME/llmctl/chat_history.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

BLOCK = '"""'
HISTORY_LENGTH = 1000


def history_path() -> Path:
    from llmctl.core.config import user_state_dir

    return user_state_dir() / "chat_history"


class LineReader:
    """Prompts and reads one message; readline's editing and history when both ends are a terminal."""

    def __init__(self, prompt: str = ">>> ", more: str = "... ", history: Path | None = None) -> None:
        self.prompt = prompt
        self.more = more
        self.history = history if history is not None else history_path()
        # input() edits lines only when stdin and stdout are both terminals; the prompt then goes
        # to the terminal through stdout, which is where the answers go too.
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._readline: Any = None
        if self.interactive:
            with contextlib.suppress(ImportError):
                import readline

                self._readline = readline
                readline.set_history_length(HISTORY_LENGTH)
                readline.set_auto_history(False)
                with contextlib.suppress(OSError):
                    readline.read_history_file(self.history)

    def _line(self, prompt: str) -> str | None:
        if self.interactive:
            try:
                return input(prompt)
            except EOFError:
                return None
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        return None if line == "" else line.rstrip("\n")

    def read(self) -> str | None:
        """One message (None at end of input); continued and block lines are joined with newlines."""
        first = self._line(self.prompt)
        if first is None:
            return None
        if first.strip() == BLOCK:
            lines: list[str] = []
            while (line := self._line(self.more)) is not None and line.strip() != BLOCK:
                lines.append(line)
            text = "\n".join(lines)
        else:
            lines = [first]
            while lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1]
                line = self._line(self.more)
                if line is None:
                    break
                lines.append(line)
            text = "\n".join(lines)
        self._remember(text)
        return text

    def _remember(self, text: str) -> None:
        """One history entry per message (a multi-line one too), so Up brings all of it back."""
        if self._readline is not None and text.strip():
            self._readline.add_history(text)

    def close(self) -> None:
        if self._readline is not None:
            with contextlib.suppress(OSError):
                self.history.parent.mkdir(parents=True, exist_ok=True)
                self._readline.write_history_file(self.history)
