"""Mistral's chat message shapes: attachments as content chunks, tools and the calls the model asks for."""

from __future__ import annotations

from typing import Any

from llmctl.core.attachments import Attachment
from llmctl.core.tooling import ToolCall
from llmctl.providers.base import CompletionRequest
from llmctl.providers.chat_wire import wire_messages, wire_tool_calls


def chat_messages(request: CompletionRequest) -> list[dict[str, Any]]:
    """The request's messages as Mistral takes them; the prompt's attachments as chunks after its text."""
    return wire_messages(request, _message, attachment_chunk)


def _message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls")
    if message["role"] == "assistant" and calls:
        return {"role": "assistant", "content": message.get("content") or "",
                "tool_calls": wire_tool_calls(calls)}
    if message["role"] == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "name": message.get("name"),
                "content": message["content"]}
    return {"role": message["role"], "content": message["content"]}


def attachment_chunk(attachment: Attachment) -> dict[str, Any]:
    """image_url (a data: URL or the URL), document_url, or input_audio (base64)."""
    if attachment.kind == "image":
        return {"type": "image_url", "image_url": attachment.data_url()}
    if attachment.kind == "audio":
        return {"type": "input_audio", "input_audio": attachment.base64()}
    return {"type": "document_url", "document_url": attachment.data_url()}


def tool_calls_of(message: dict[str, Any]) -> list[ToolCall]:
    """The calls in a response message, in the order the model wrote them."""
    import json

    found: list[ToolCall] = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        found.append(ToolCall(str(call.get("id") or f"call{len(found)}"), str(function.get("name")), text or "{}"))
    return found
