"""A loopback HTTP server that misbehaves on cue: 429s, 500s, hangs, cut streams, bodies that are not JSON.

Each request takes the next step from a script (`server.script("429:1", "chat")`); when the script
runs out it answers with the last step again. Every request is recorded for the test to inspect.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_ANSWER = "Frogs sing at night."


def chat_body(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fault", "object": "chat.completion", "created": 1718000000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": CHAT_ANSWER},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 6, "total_tokens": 17},
    }


def chunk(model: str, content: str | None, finish: str | None) -> bytes:
    delta = {"content": content} if content is not None else {}
    event = {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1718000000, "model": model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(event)}\n\n".encode()


def native_chat_body(path: str, model: str) -> dict[str, Any] | None:
    """The same answer in the Anthropic Messages or Gemini generateContent shape, where the path asks for one."""
    if path.endswith("/messages"):
        return {"id": "msg_fault", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": CHAT_ANSWER}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 11, "output_tokens": 6}}
    if ":generateContent" in path:
        answer = {"content": {"role": "model", "parts": [{"text": CHAT_ANSWER}]}, "finishReason": "STOP"}
        return {"candidates": [answer],
                "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 6, "totalTokenCount": 17}}
    return None


def sent_key(headers: Any) -> str:
    """Whatever credential header a request carried (for the servers that print it back)."""
    return str(headers.get("Authorization") or headers.get("x-api-key") or headers.get("x-goog-api-key") or "no header")


STREAM_WORDS = ["Frogs ", "sing ", "at ", "night."]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout, a cut stream) is part of the script, not a failure.
        pass


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class FaultServer:
    steps: list[str] = field(default_factory=lambda: ["chat"])
    seen: list[Seen] = field(default_factory=list)
    hang_seconds: float = 2.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        handler = _make_handler(self)
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # Polled every 10 ms: shutdown() waits for the next poll (0.5 s by default, at every teardown).
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *steps: str) -> None:
        with self._lock:
            self.steps = list(steps)
            self.seen.clear()

    def next_step(self) -> str:
        with self._lock:
            return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.loads(raw) if raw else None
            server.seen.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                                    body, time.monotonic()))
            step = server.next_step()
            model = (body or {}).get("model", "m")
            name, _, arg = step.partition(":")
            if name == "429":
                error = {"error": {"message": "Rate limit reached for requests", "type": "requests",
                                   "param": None, "code": "rate_limit_exceeded"}}
                self._json(429, error, {"Retry-After": arg or "1"})
            elif name in ("408", "409", "500", "502", "503"):
                self._json(int(name), {"error": {"message": "The server had an error while processing your request.",
                                                 "type": "server_error", "param": None, "code": None}})
            elif name == "hang":
                time.sleep(server.hang_seconds)
                self._json(200, chat_body(model))
            elif name == "401":
                # arg "echo": the body repeats the credential the server was sent, as some proxies do.
                got = sent_key(self.headers)
                message = f"Incorrect API key provided: {got}" if arg == "echo" else "Unauthorized"
                self._json(401, {"error": {"message": message, "type": "invalid_request_error",
                                           "param": None, "code": "invalid_api_key"}})
            elif name == "notjson":
                data = b"<html><body>502 Bad Gateway</body></html>"
                if arg == "echo":
                    data = f"<html><body>bad gateway for {sent_key(self.headers)}</body></html>".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif name == "chat":
                self._json(200, native_chat_body(self.path, model) or chat_body(model))
            elif name == "embed":
                inputs = (body or {}).get("input") or []
                self._json(200, {"object": "list", "model": model,
                                 "data": [{"object": "embedding", "index": i, "embedding": [float(i), 1.0]}
                                          for i in range(len(inputs))],
                                 "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}})
            elif name in ("stream", "cut", "cutclean", "streamplain"):
                self._stream(model, name)
            else:
                self._json(500, {"error": {"message": f"unknown step {step}"}})

        def _stream(self, model: str, mode: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            if mode == "cutclean":
                # No length, no chunking: the body ends when the connection closes.
                self.send_header("Connection", "close")
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = [chunk(model, w, None) for w in STREAM_WORDS] + [chunk(model, None, "stop")]
            events.append(b'data: ' + json.dumps({
                "id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": 1718000000, "model": model,
                "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}).encode()
                + b"\n\n")
            events.append(b"data: [DONE]\n\n")
            if mode in ("cut", "cutclean"):
                events = events[:2]
            if mode == "streamplain":
                events = [e for e in events if b'"usage"' not in e]  # a server that reports no usage
            for event in events:
                if mode == "cutclean":
                    self.wfile.write(event)
                else:
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                self.wfile.flush()
                time.sleep(0.01)
            if mode in ("stream", "streamplain"):
                self.wfile.write(b"0\r\n\r\n")
                return
            # Drop the connection halfway: no terminating chunk, no [DONE].
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    return Handler
