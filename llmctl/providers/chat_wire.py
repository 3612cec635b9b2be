"""The chat-message wire shape OpenAI-style APIs share: the prompt's attachments as parts after its
text, and the tool calls an assistant turn made; each provider supplies its own message and part shapes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llmctl.core.attachments import Attachment
from llmctl.core.tooling import ToolCall
from llmctl.providers.base import CompletionRequest


def wire_messages(request: CompletionRequest, message: Callable[[dict[str, Any]], dict[str, Any]],
                  part: Callable[[Attachment], dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's messages in a provider's shape; the prompt's attachments follow its text as parts."""
    messages = [message(m) for m in request.messages()]
    if request.attachments:
        # The prompt is the last user turn; tool rounds of this request come after it.
        last = messages[len(messages) - 1 - len(request.tool_rounds)]
        last["content"] = [{"type": "text", "text": last["content"]}, *(part(a) for a in request.attachments)]
    return messages


def wire_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """An assistant turn's tool calls as the chat endpoints take them back."""
    return [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls]
