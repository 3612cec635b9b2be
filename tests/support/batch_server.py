"""A loopback server with OpenAI's files + batches endpoints and Mistral's files + batch jobs endpoints.

Bodies follow the shapes the providers document (file objects, batch objects with request counts,
output lines `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`).
A batch moves one status further each time it is read: queued, running, done. A request whose
user message contains FAIL lands in the error file with a 400 (its message names the key the
server was sent, as a careless server might). Faults on cue: `drop_uploads`/`drop_creates` close
the connection without an answer after doing the work, `create_status` answers a creation with
that status after making the batch, `next_id` is the id the next batch gets, `refuse` answers
every POST with a 400 that echoes the Authorization header.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_STEPS = ["validating", "in_progress", "finalizing", "completed"]
MISTRAL_STEPS = ["QUEUED", "RUNNING", "SUCCESS"]
CREATED = 1732600000


def _chat_body(model: str, content: str) -> dict[str, Any]:
    answer = content.upper()
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": CREATED,
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": len(content.split()) + 7, "completion_tokens": len(answer.split()),
                      "total_tokens": len(content.split()) + 7 + len(answer.split())}}


def _embedding_body(model: str, text: str) -> dict[str, Any]:
    return {"object": "list", "model": model, "data": [{"object": "embedding", "index": 0,
                                                          "embedding": [float(len(text)), 1.0]}],
            "usage": {"prompt_tokens": len(text.split()), "total_tokens": len(text.split())}}


class BatchServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        #: Every request as (method, path without the query), in arrival order.
        self.requests: list[tuple[str, str]] = []
        self.drop_uploads = 0
        self.drop_creates = 0
        self.create_status: int | None = None
        self.next_id: str | None = None
        self.refuse = False
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # Polled every 10 ms: shutdown() waits for the next poll (0.5 s by default, at every teardown).
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------ behaviour
    def upload(self, purpose: str, name: str, content: bytes) -> dict[str, Any]:
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        with self.lock:
            self.files[file_id] = content
            self.uploads.append({"purpose": purpose, "filename": name, "content": content})
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": CREATED, "filename": name,
                "purpose": purpose}

    def _run(self, batch: dict[str, Any]) -> None:
        """Answer every line of the input file: output and error files, request counts."""
        content = self.files[batch["_input"]].decode()
        out, err = [], []
        for raw in content.splitlines():
            line = json.loads(raw)
            body = line["body"]
            model = str(body.get("model") or batch.get("model"))
            if "input" in body:
                text = body["input"]
                response_body = _embedding_body(model, text)
            else:
                text = body["messages"][-1]["content"]
                response_body = _chat_body(model, text)
            entry = {"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": line["custom_id"]}
            if "FAIL" in text:
                entry.update(response={"status_code": 400, "request_id": "req_x", "body": {"error": {
                    "message": f"Invalid request: the content was rejected; the key was {batch.get('_key')}",
                    "type": "invalid_request_error",
                    "param": None, "code": None}}}, error=None)
                err.append(entry)
            else:
                entry.update(response={"status_code": 200, "request_id": "req_y", "body": response_body},
                             error=None)
                out.append(entry)
        for name, lines in (("_output", out), ("_errors", err)):
            if lines:
                file_id = f"file-{uuid.uuid4().hex[:24]}"
                self.files[file_id] = "".join(json.dumps(e) + "\n" for e in lines).encode()
                batch[name] = file_id
        batch["_counts"] = (len(out) + len(err), len(out), len(err))

    def view(self, batch: dict[str, Any]) -> dict[str, Any]:
        total, ok, failed = batch.get("_counts", (batch["_lines"], 0, 0))
        status = batch["_steps"][batch["_step"]]
        if batch["_kind"] == "openai":
            return {"id": batch["id"], "object": "batch", "endpoint": batch["endpoint"], "errors": None,
                    "input_file_id": batch["_input"], "completion_window": "24h", "status": status,
                    "output_file_id": batch.get("_output"), "error_file_id": batch.get("_errors"),
                    "created_at": CREATED, "in_progress_at": None, "expires_at": CREATED + 86400,
                    "completed_at": None, "failed_at": None, "expired_at": None, "cancelled_at": None,
                    "request_counts": {"total": total, "completed": ok, "failed": failed},
                    "metadata": batch["metadata"]}
        return {"id": batch["id"], "object": "batch", "input_files": [batch["_input"]], "metadata": batch["metadata"],
                "endpoint": batch["endpoint"], "model": batch["model"], "output_file": batch.get("_output"),
                "error_file": batch.get("_errors"), "errors": [], "status": status, "created_at": CREATED,
                "total_requests": total, "completed_requests": ok + failed, "succeeded_requests": ok,
                "failed_requests": failed, "started_at": None, "completed_at": None}

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.created.append({"kind": kind, **body})
            input_id = body["input_file_id"] if kind == "openai" else body["input_files"][0]
            batch_id = f"batch_{uuid.uuid4().hex[:20]}" if kind == "openai" else str(uuid.uuid4())
            if self.next_id is not None:
                batch_id, self.next_id = self.next_id, None
            batch = {"id": batch_id, "_kind": kind, "_input": input_id, "_step": 0, "endpoint": body["endpoint"],
                     "model": body.get("model"), "metadata": body.get("metadata") or {},
                     "_steps": OPENAI_STEPS if kind == "openai" else MISTRAL_STEPS,
                     "_lines": len(self.files[input_id].splitlines())}
            self.batches[batch_id] = batch
            return self.view(batch)

    def read(self, batch_id: str) -> dict[str, Any] | None:
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            if batch["_step"] < len(batch["_steps"]) - 1:
                batch["_step"] += 1
                if batch["_steps"][batch["_step"]] in ("completed", "SUCCESS"):
                    self._run(batch)
            return self.view(batch)

    def cancel(self, batch_id: str) -> dict[str, Any] | None:
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            batch["_steps"] = batch["_steps"][: batch["_step"] + 1] + (
                ["cancelling", "cancelled"] if batch["_kind"] == "openai" else ["CANCELLATION_REQUESTED", "CANCELLED"])
            batch["_step"] += 1
            return self.view(batch)


def _handler(server: BatchServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _missing(self) -> None:
            self._send(404, {"error": {"message": f"No such object: {self.path}", "type": "invalid_request_error"}})

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

        def _path(self) -> str:
            path = urllib.parse.urlsplit(self.path).path.removeprefix("/v1")
            with server.lock:
                server.requests.append((self.command, path))
            return path

        def _drop(self) -> None:
            """The work is done, the answer never comes: the client cannot tell whether it was."""
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def do_POST(self) -> None:  # noqa: N802
            raw = self._body()
            path = self._path()
            if server.refuse:
                self._send(400, {"error": {"message": f"Bad request from {self.headers.get('Authorization')}",
                                           "type": "invalid_request_error"}})
            elif path == "/files":
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw)
                parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
                content = parts["file"].get_payload(decode=True)
                name = parts["file"].get_filename()
                purpose = parts["purpose"].get_payload(decode=True)
                assert isinstance(content, bytes) and isinstance(purpose, bytes) and name is not None
                uploaded = server.upload(purpose.decode(), name, content)
                if server.drop_uploads:
                    server.drop_uploads -= 1
                    self._drop()
                else:
                    self._send(200, uploaded)
            elif path in ("/batches", "/batch/jobs"):
                created = server.create("openai" if path == "/batches" else "mistral", json.loads(raw))
                server.batches[created["id"]]["_key"] = self.headers.get("Authorization")
                if server.drop_creates:
                    server.drop_creates -= 1
                    self._drop()
                elif server.create_status is not None:
                    self._send(server.create_status, {"error": {"message": "The server had an error",
                                                                "type": "server_error"}})
                else:
                    self._send(200, created)
            elif path.endswith("/cancel"):
                found = server.cancel(path.split("/")[-2])
                self._send(200, found) if found else self._missing()
            else:
                self._missing()

        def do_GET(self) -> None:  # noqa: N802
            path = self._path()
            if path.startswith("/files/") and path.endswith("/content"):
                content = server.files.get(path.split("/")[2])
                self._send(200, None, content) if content is not None else self._missing()
            elif path in ("/batches", "/batch/jobs"):
                kind = "openai" if path == "/batches" else "mistral"
                data = [server.view(b) for b in server.batches.values() if b["_kind"] == kind]
                self._send(200, {"object": "list", "data": data, "has_more": False} if kind == "openai"
                           else {"object": "list", "data": data, "total": len(data)})
            elif path.startswith(("/batches/", "/batch/jobs/")):
                found = server.read(path.split("/")[-1])
                self._send(200, found) if found else self._missing()
            else:
                self._missing()

    return Handler
