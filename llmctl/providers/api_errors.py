"""How an API's failures read: the message inside an error body, and bodies that are not JSON."""

from __future__ import annotations

import json
from typing import Any

from llmctl.core.errors import ProviderError
from llmctl.providers.base import ModelRef


def not_json_error(ref: ModelRef, status: int | None, text: str, content_type: str | None) -> ProviderError:
    snippet = " ".join(text.split())[:80]
    try:
        json.loads(text)
    except ValueError:
        pass
    else:
        return ProviderError(f"{ref.label}: the server answered with JSON of an unexpected shape "
                             f"(HTTP {status}): {snippet!r}", status=status)
    kind = f", {content_type.split(';')[0]}" if content_type else ""
    return ProviderError(f"{ref.label}: the server answered with a body that is not JSON "
                         f"(HTTP {status}{kind}): {snippet!r}", status=status)


def provider_message(body: Any) -> str:
    """The human message inside an error body, in the OpenAI, Mistral or FastAPI shapes."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return " ".join(body.split())[:300]
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        detail = body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            loc = ".".join(str(p) for p in detail[0].get("loc", []))
            return f"{loc}: {detail[0].get('msg', '')}".strip(": ")
        if isinstance(detail, str):
            return detail
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""
