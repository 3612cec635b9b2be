"""A conversation with a model: its turns, system prompt and settings, the chat commands, /save.

Every turn is sent through the run layer, as `complete` sends a prompt: it is checked against
`[budget]` limits before it is sent, logged in the usage log and priced.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmctl.core.errors import BudgetExceededError, ProviderError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.ulid import new_ulid
from llmctl.core.usage import Usage
from llmctl.providers.base import COMPLETE, CompletionRequest, ModelRef, Provider, TextSink
from llmctl.run.conversations import ConversationLink
from llmctl.run.jobs import CompleteJob
from llmctl.run.runner import Target
from llmctl.run.session import RunOptions, Session

COMMANDS_HELP = ("/reset clears the conversation · /system TEXT sets the system prompt · /save FILE keeps "
                 "the conversation · /exit or Ctrl-D quits · end a line with \\ or wrap lines in \"\"\" for more")


@dataclass
class Turn:
    """One answer: its text, usage and seconds, and how many old turns were dropped to make room;
    `record` is the run layer's record of it (usage, cost, latency)."""

    text: str
    usage: Usage
    seconds: float
    dropped: int = 0
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> Decimal | None:
        """What the turn cost; None where the model's price is unknown."""
        total = (self.record.get("cost") or {}).get("total")
        return None if total is None else Decimal(str(total))


class ChatJob(CompleteJob):
    """A chat turn: the conversation so far travels in the template's history. Never answered
    from the cache (the cache key does not hold the history)."""

    command = "run-local"

    def cacheable(self) -> bool:
        return False


class ChatSession:
    """One conversation with a loaded model; the template holds the system prompt and sampling settings.

    `options` are the provider options the model was opened with (what its tokenizer is looked up
    with for a budget's estimate); `run` how each turn is run (warnings, the budget's --max-cost);
    `conversation` where the turns are stored (a stored one's turns are the chat's start).
    """

    def __init__(self, provider: Provider, ref: ModelRef, template: CompletionRequest, *,
                 options: dict[str, Any] | None = None, run: RunOptions | None = None,
                 conversation: ConversationLink | None = None) -> None:
        self.provider = provider
        self.ref = ref
        self.template = template
        self.history: list[dict[str, str]] = list(conversation.history) if conversation is not None else []
        if conversation is not None and template.system is None:
            template.system = conversation.system
        self._job = ChatJob(template)
        self._job.conversation = conversation
        self._session = Session(self._job, [], dict(options or {}), targets=[Target(ref, provider, COMPLETE)])
        self._run = run or RunOptions()

    def ask(self, text: str, on_text: TextSink | None = None) -> Turn:
        """One turn; the oldest turns are dropped while the conversation outgrows the context."""
        dropped = 0
        while True:
            self._job.template = dataclasses.replace(self.template, history=list(self.history))
            try:
                record = self._send(text, on_text)
            except UsageError as exc:
                if self.history and "context window" in exc.message:
                    del self.history[:2]
                    dropped += 1
                    continue
                raise
            answer = record.get("text") or ""
            self.history += [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
            used = record.get("usage") or {}
            usage = Usage(used.get("input_tokens", 0), used.get("output_tokens", 0),
                          used.get("cached_input_tokens", 0), bool(used.get("estimated")), used.get("tokenizer"))
            return Turn(answer, usage, (record.get("latency_ms") or 0.0) / 1000, dropped, record)

    def _send(self, text: str, on_text: TextSink | None) -> dict[str, Any]:
        """One request through the run layer; its failure (or the budget's refusal) is raised."""
        records: list[dict[str, Any]] = []

        def sink(_ref: ModelRef, delta: str) -> None:
            if on_text is not None:
                on_text(delta)

        options = dataclasses.replace(self._run, on_text=sink if on_text is not None else None, output=None,
                                      resume=False, retry_failed=False, concurrency=1)
        report = self._session.run([InputItem(text, "<chat>")],
                                   lambda _item, _index, record: records.append(record), options)
        if report.budget_stop:
            raise BudgetExceededError(report.budget_stop)
        if records and records[0].get("error") is None:
            # The model was loaded when the chat began; the run's own look at it took no time worth a figure.
            records[0].pop("load_ms", None)
            return records[0]
        if report.failures:
            raise report.failures[-1]
        raise ProviderError(f"{self.ref.label} gave no answer")

    def command(self, line: str) -> str | None:
        """Run a /command; the message to show, or None when the chat should end."""
        name, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if name in ("/exit", "/quit", "/bye"):
            return None
        if name == "/reset":
            self.history.clear()
            if self._job.conversation is not None:
                # What follows is a new conversation in the log too.
                self._job.conversation = dataclasses.replace(self._job.conversation, id=new_ulid(), history=[])
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
