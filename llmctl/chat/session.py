"""A conversation with a model: its turns, system prompt and settings, the chat commands, /save."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import CompletionRequest, ModelRef, Provider, TextSink

COMMANDS_HELP = ("/reset clears the conversation · /system TEXT sets the system prompt · /save FILE keeps "
                 "the conversation · /exit or Ctrl-D quits · end a line with \\ or wrap lines in \"\"\" for more")


@dataclass
class Turn:
    """One answer: its text, usage and seconds, and how many old turns were dropped to make room."""

    text: str
    usage: Usage
    seconds: float
    dropped: int = 0


class ChatSession:
    """One conversation with a loaded model; the template holds the system prompt and sampling settings."""

    def __init__(self, provider: Provider, ref: ModelRef, template: CompletionRequest) -> None:
        self.provider = provider
        self.ref = ref
        self.template = template
        self.history: list[dict[str, str]] = []

    def ask(self, text: str, on_text: TextSink | None = None) -> Turn:
        """One turn; the oldest turns are dropped while the conversation outgrows the context."""
        dropped = 0
        while True:
            request = dataclasses.replace(self.template, prompt=text, history=list(self.history),
                                          stream=on_text is not None)
            started = time.perf_counter()
            try:
                completion = self.provider.complete(self.ref, request, on_text)
            except UsageError as exc:
                if self.history and "context window" in exc.message:
                    del self.history[:2]
                    dropped += 1
                    continue
                raise
            seconds = time.perf_counter() - started
            self.history += [{"role": "user", "content": text},
                             {"role": "assistant", "content": completion.text}]
            return Turn(completion.text, completion.usage, seconds, dropped)

    def command(self, line: str) -> str | None:
        """Run a /command; the message to show, or None when the chat should end."""
        name, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if name in ("/exit", "/quit", "/bye"):
            return None
        if name == "/reset":
            self.history.clear()
            return "(conversation cleared)"
        if name == "/system":
            self.template.system = rest or None
            return f"(system prompt {'set' if rest else 'cleared'})"
        if name == "/save":
            if not rest:
                return "(/save needs a file name: /save chat.md or /save chat.json)"
            try:
                path = self.save(Path(rest).expanduser())
            except OSError as exc:
                return f"(cannot save to {rest}: {exc.strerror or exc})"
            return f"(saved {len(self.history) // 2} turn{'' if len(self.history) == 2 else 's'} to {path})"
        if name in ("/help", "/?"):
            return COMMANDS_HELP
        return f"unknown command {name}; {COMMANDS_HELP}"

    def messages(self) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.template.system}] if self.template.system else []
        return system + self.history

    def save(self, path: Path) -> Path:
        """The conversation as JSON (a .json file: model and messages) or else as Markdown."""
        if path.suffix.lower() == ".json":
            text = json.dumps({"model": self.ref.label, "messages": self.messages()}, ensure_ascii=False, indent=2)
        else:
            parts = [f"# Chat with {self.ref.label}\n"]
            for message in self.messages():
                parts.append(f"## {message['role']}\n\n{message['content'].strip()}\n")
            text = "\n".join(parts)
        path.write_text(text + "\n", encoding="utf-8")
        return path
