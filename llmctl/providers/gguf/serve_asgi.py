"""What the `--serve` child wraps around llama-cpp-python's app: the API key check and the model's defaults.

Both are plain ASGI wrappers (no llama_cpp import), so they see every request before the app does.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The environment variable that carries the server's API key (to llmctl, and from it to the server child).
KEY_ENV = "LLMCTL_SERVE_KEY"
#: Request fields a model default may fill, by the name llama-cpp-python's server gives them.
SAMPLING_KEYS = ("temperature", "top_p", "top_k", "repeat_penalty", "max_tokens")
#: The generation endpoints whose requests get the defaults (llama-cpp-python's routes).
CHAT_PATH, COMPLETION_PATH = "/v1/chat/completions", "/v1/completions"


async def send_json(send: Send, status: int, body: Mapping[str, Any],
                    headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class RequireKey:
    """Every HTTP request carries `Authorization: Bearer KEY`, as llama-server's --api-key asks; else a 401
    with an OpenAI-shaped error body (clients then say "authentication failed", not "server error")."""

    def __init__(self, app: App, key: str) -> None:
        self.app = app
        self._key = key.encode()

    def allows(self, scope: Scope) -> bool:
        scheme, _, token = (_header(scope, b"authorization") or b"").strip().partition(b" ")
        # compare_digest: how long the comparison takes says nothing about how much of the key matched.
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allows(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # refused before it is accepted (the server answers 403)
            await send({"type": "websocket.close", "code": 1008})
            return
        given = _header(scope, b"authorization") is not None
        message = ("Invalid API key." if given else "Missing API key.") + \
            " Send the server's key as the header `Authorization: Bearer KEY`."
        await send_json(send, 401, {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                              "code": "invalid_api_key"}},
                        headers=((b"www-authenticate", b"Bearer"),))


def fill_defaults(body: dict[str, Any], defaults: Mapping[str, Any], *, chat: bool) -> dict[str, Any]:
    """The request with the model's defaults for what it leaves unset: the system prompt (a chat with no
    system message) and the sampling settings (absent or null). What the request says always wins."""
    filled = dict(body)
    for key in SAMPLING_KEYS:
        if key in defaults and filled.get(key) is None:
            if key == "max_tokens" and filled.get("max_completion_tokens") is not None:
                filled[key] = filled["max_completion_tokens"]  # the newer OpenAI name for the same cap
            else:
                filled[key] = defaults[key]
    messages = filled.get("messages")
    system = defaults.get("system")
    if chat and isinstance(system, str) and isinstance(messages, list) \
            and not any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
        filled["messages"] = [{"role": "system", "content": system}, *messages]
    return filled


class WithDefaults:
    """Chat and text completion requests get the model's defaults (its alias's settings, then the file's
    own), as `llmctl complete` applies them, before llama-cpp-python's server fills in its own."""

    def __init__(self, app: App, defaults: Mapping[str, Any]) -> None:
        self.app = app
        self.defaults = dict(defaults)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")).rstrip("/")
        if scope["type"] != "http" or scope.get("method") != "POST" or path not in (CHAT_PATH, COMPLETION_PATH) \
                or not self.defaults:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending its whole request
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):  # anything else goes on as it came, for the app to refuse
            raw = json.dumps(fill_defaults(body, self.defaults, chat=path == CHAT_PATH)).encode()
        headers = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(raw)).encode())]}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as the app expects

        await self.app(scope, replay, send)
