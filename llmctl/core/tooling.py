"""Tools a model may call: what is offered (ToolSpec), what it asks for (ToolCall), what it got back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: a tool's answer is cut to this many UTF-8 bytes before it goes back to the model, which bounds
#: the tokens a round can add (a token is at least one byte) for estimates and budgets
RESULT_BYTES = 16_384


@dataclass(frozen=True)
class ToolSpec:
    """What the model is told of one tool: its name, what it does, its arguments as a JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for; `arguments` is the JSON text it wrote (it may not parse)."""

    id: str
    name: str
    arguments: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ToolResult:
    """What running a call gave: the text sent back to the model, and whether it was an error."""

    call: ToolCall
    output: str
    error: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**self.call.to_json(), "output": self.output, "error": self.error}


@dataclass(frozen=True)
class Tool:
    """A callable offered to the model under `spec`; `fn` takes the arguments as keywords."""

    spec: ToolSpec
    fn: Callable[..., Any] = field(compare=False)

    def run(self, call: ToolCall) -> ToolResult:
        """Run one call; whatever goes wrong (bad arguments, the function raising) is sent back as text,
        so the model can correct itself instead of the whole command failing."""
        try:
            arguments = json.loads(call.arguments or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("the arguments are not a JSON object")
        except ValueError as exc:
            return ToolResult(call, f"Error: the arguments are not valid JSON: {exc}", error=True)
        try:
            value = self.fn(**arguments)
        except Exception as exc:  # a tool's own failure is the model's to read, not ours to crash on
            return ToolResult(call, f"Error: {type(exc).__name__}: {exc}", error=True)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        return ToolResult(call, cut(text))


def cut(text: str) -> str:
    data = text.encode()
    if len(data) <= RESULT_BYTES:
        return text
    note = "\n[cut: the tool's answer was longer]"
    return data[:RESULT_BYTES - len(note.encode())].decode(errors="ignore") + note
