"""OpenAI's chat message shapes: attachments as content parts, tools and the calls the model asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmctl.core.attachments import Attachment
from llmctl.core.errors import UsageError
from llmctl.core.tooling import ToolCall, ToolSpec
from llmctl.providers.base import CompletionRequest, ModelRef
from llmctl.providers.chat_wire import wire_messages, wire_tool_calls

#: the audio formats the chat endpoint's input_audio part names
AUDIO_FORMATS = {"audio/wav": "wav", "audio/mpeg": "mp3"}


def chat_messages(ref: ModelRef, request: CompletionRequest) -> list[dict[str, Any]]:
    """The request's messages as the chat endpoint takes them: tool rounds in its shape, and the
    prompt's attachments as parts after its text."""
    return wire_messages(request, _message, lambda attachment: attachment_part(ref, attachment))


def _message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    if message["role"] == "assistant" and calls:
        return {"role": "assistant", "content": message.get("content") or None,
                "tool_calls": wire_tool_calls(calls)}
    if message["role"] == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message["content"]}
    return {"role": message["role"], "content": message["content"]}


def attachment_part(ref: ModelRef, attachment: Attachment) -> dict[str, Any]:
    """One attachment as a content part: image_url (a data: URL or the URL), file, input_audio."""
    if attachment.kind == "image":
        return {"type": "image_url", "image_url": {"url": attachment.data_url()}}
    if attachment.is_url:
        raise UsageError(f"{ref.label} takes {attachment.mime} only as a file, not a URL ({attachment.source}); "
                         "download it and attach the file")
    if attachment.kind == "audio":
        fmt = AUDIO_FORMATS.get(attachment.mime)
        if fmt is None:
            raise UsageError(f"{ref.label} takes audio as wav or mp3, not {attachment.mime} ({attachment.source})")
        return {"type": "input_audio", "input_audio": {"data": attachment.base64(), "format": fmt}}
    return {"type": "file", "file": {"filename": Path(attachment.source).name, "file_data": attachment.data_url()}}


def tools_param(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def tool_calls_of(message: Any) -> list[ToolCall]:
    """The calls in a response message (SDK object or dict), in the order the model wrote them."""
    calls = getattr(message, "tool_calls", None) if not isinstance(message, dict) else message.get("tool_calls")
    found: list[ToolCall] = []
    for call in calls or []:
        function = call.function if not isinstance(call, dict) else call["function"]
        name = function.name if not isinstance(function, dict) else function["name"]
        arguments = function.arguments if not isinstance(function, dict) else function.get("arguments")
        call_id = call.id if not isinstance(call, dict) else call.get("id")
        found.append(ToolCall(str(call_id or f"call_{len(found)}"), str(name), _arguments_text(arguments)))
    return found


def _arguments_text(arguments: Any) -> str:
    import json

    if arguments is None:
        return "{}"
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
