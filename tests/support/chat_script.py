"""A loopback OpenAI-compatible chat server that answers from a script and keeps every body it was sent.

Each step is a function of the request body that returns the assistant message (a dict) and the usage
to report; a step may assert on what it was sent (the tool results of the round before, say).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, int]]]


class ChatScript:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.bodies: list[dict[str, Any]] = []
        self.failures: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        # Polled every 10 ms: shutdown() waits for the next poll (0.5 s by default, at every teardown).
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append(body)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        message, usage = step(body)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return {"id": f"chatcmpl-{len(self.bodies)}", "object": "chat.completion", "created": 1, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
                "usage": {"prompt_tokens": usage["in"], "completion_tokens": usage["out"],
                          "total_tokens": usage["in"] + usage["out"]}}


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"content": None, "tool_calls": [{"id": call_id, "type": "function",
                                             "function": {"name": name, "arguments": json.dumps(arguments)}}]}


def _handler(server: ChatScript) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            try:
                payload, status = server.answer(body), 200
            except AssertionError as exc:
                server.failures.append(str(exc))
                payload, status = {"error": {"message": f"script: {exc}"}}, 400
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
