"""Tools on a local GGUF model: a grammar-constrained turn that is either one tool call or the answer.

llama.cpp's grammar lets the model write only `{"tool": NAME, "arguments": {...}}` (arguments as the
tool's schema says) or `{"answer": ...}`; the tools are described in the system prompt, and earlier
rounds are laid out as plain turns the model's own chat template can render (a call as the JSON the
model wrote, a result as a user turn), so any template works.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from llmctl.core.tooling import ToolCall
from llmctl.providers.base import Completion, CompletionRequest


def turn_schema(request: CompletionRequest) -> dict[str, Any]:
    answer = request.json_schema if request.json_schema is not None else {"type": "string"}
    calls = [{"type": "object", "properties": {"tool": {"const": t.name}, "arguments": t.parameters},
              "required": ["tool", "arguments"], "additionalProperties": False} for t in request.tools]
    return {"anyOf": [*calls, {"type": "object", "properties": {"answer": answer}, "required": ["answer"],
                               "additionalProperties": False}]}


def tools_system(request: CompletionRequest) -> str:
    lines = [request.system or "", "You can call these tools:"]
    lines += [f"- {t.name}: {t.description} Arguments: {json.dumps(t.parameters)}" for t in request.tools]
    lines.append('To call one, reply {"tool": NAME, "arguments": {...}}; the result comes back as a message. '
                 'When you can answer, reply {"answer": ...}.')
    return "\n".join(line for line in lines if line)


def plain_rounds(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in rounds:
        if message["role"] == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                asked = {"tool": call.name, "arguments": json.loads(call.arguments or "{}")}
                out.append({"role": "assistant", "content": json.dumps(asked)})
        elif message["role"] == "tool":
            out.append({"role": "user", "content": f"The tool {message.get('name')} returned: {message['content']}"})
        else:
            out.append(message)
    return out


def tool_turn_request(request: CompletionRequest) -> CompletionRequest:
    """The request as the model is sent it: tools in the system prompt, the turn's grammar, plain rounds."""
    return dataclasses.replace(request, system=tools_system(request), json_schema=turn_schema(request),
                               tool_rounds=plain_rounds(request.tool_rounds), tools=[], stream=False)


def read_turn(completion: Completion, request: CompletionRequest) -> Completion:
    """The model's JSON turn as a tool call or as the answer's text."""
    try:
        turn = json.loads(completion.text, strict=False)  # llama.cpp's string grammar lets newlines through
    except json.JSONDecodeError:
        return completion  # cut by --max-tokens: the text as it is
    if isinstance(turn, dict) and "tool" in turn:
        number = sum(1 for m in request.tool_rounds if m.get("tool_calls")) + 1
        call = ToolCall(f"call_{number}", str(turn["tool"]), json.dumps(turn.get("arguments") or {}))
        return dataclasses.replace(completion, text="", finish_reason="tool_calls", tool_calls=[call])
    answer = turn.get("answer") if isinstance(turn, dict) else turn
    text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
    return dataclasses.replace(completion, text=text)
