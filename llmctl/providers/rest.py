"""What providers spoken to over their REST APIs share: JSON bodies and server-sent events through llmctl's own
HTTP client (llmctl.core.http), with no SDK to install or import.

The client keeps the money rules (a generation the server may have accepted is not sent again; a free call
marked `free` is), sends the key to the provider's own host only, and retries 429 and 5xx by one policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import ProviderError
from llmctl.providers.api_errors import not_json_error
from llmctl.providers.base import ModelRef
from llmctl.providers.hosted import HostedProvider

if TYPE_CHECKING:
    import httpx2

#: What an OpenAI-style stream sends after its last event.
STREAM_END = "[DONE]"


class RestProvider(HostedProvider):
    """A hosted provider spoken to through its REST API with llmctl's own HTTP client."""

    # ------------------------------------------------------------------ client
    def _build_client(self) -> Any:
        from llmctl.core.http import client_options, make_client

        creds = self.credentials()
        settings = client_options(dict(self.options))
        return make_client(secrets=self.secrets(), key_header=self.key_header(creds), headers=self.fixed_headers(),
                           **settings)

    def fixed_headers(self) -> dict[str, str]:
        """Headers every request carries (an API version, the client's name)."""
        from llmctl import __version__

        return {"user-agent": f"llmctl/{__version__}"}

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    # ------------------------------------------------------------------ calls
    def post_json(self, ref: ModelRef, path: str, body: dict[str, Any], *, free: bool = False) -> dict[str, Any]:
        """POST a JSON body; the JSON object answered, or the llmctl error for what went wrong."""
        import httpx2

        from llmctl.core.http import SAFE_TO_RESEND

        client = self.client()
        try:
            response = client.post(self.url(path), json=body, extensions={SAFE_TO_RESEND: True} if free else None)
        except httpx2.TransportError as exc:
            raise self.transport_error(ref, exc) from None
        return self._answer(ref, response)

    def _answer(self, ref: ModelRef, response: httpx2.Response) -> dict[str, Any]:
        text = response.text
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if response.status_code >= 400:
            raise self.status_failure(ref, response.status_code, data if data is not None else text, response)
        if not isinstance(data, dict):
            raise not_json_error(ref, response.status_code, self.redacted(text), response.headers.get("content-type"))
        return data

    def post_events(self, ref: ModelRef, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST a JSON body and yield the JSON data of each server-sent event of the answer, up to `[DONE]`."""
        import httpx2

        client = self.client()
        started = False
        try:
            with client.stream("POST", self.url(path), json=body) as response:
                if response.status_code >= 400 or "text/event-stream" not in response.headers.get("content-type", ""):
                    response.read()
                    self._answer(ref, response)  # raises for an error status
                    raise not_json_error(ref, response.status_code, self.redacted(response.text),
                                         response.headers.get("content-type"))
                started = True
                for data in sse_data(response.iter_lines()):
                    if data == STREAM_END:
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise ProviderError(f"{ref.label}: the stream carried an event that is not JSON: "
                                            f"{self.redacted(data)[:200]!r}") from None
                    if isinstance(event, dict):
                        yield event
        except httpx2.TransportError as exc:
            raise self.transport_error(ref, exc, streaming=started) from None


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The data of each server-sent event (its `data:` lines joined), in order; comments and other fields skipped."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)
