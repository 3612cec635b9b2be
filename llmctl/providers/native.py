"""What providers spoken to over their own REST APIs share: JSON and server-sent events through llmctl's HTTP
client (no SDK: nothing more to install or import), the key in the provider's own header, and token counts
from the provider's count endpoint, or estimated with o200k_base where none can be asked.

The client (llmctl.core.http) keeps its money rules: a generation the server may have accepted is not sent
again; a count is free and changes nothing, so it is marked safe to send again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from llmctl.core.errors import ProviderError, UsageError
from llmctl.providers.api_errors import not_json_error
from llmctl.providers.base import CompletionRequest, ModelRef, Tokenizer
from llmctl.providers.hosted import Credentials, HostedProvider

if TYPE_CHECKING:
    import httpx2

#: The encoding that estimates counts where the provider's own cannot be asked (no key, a custom endpoint).
ESTIMATE_ENCODING = "o200k_base"


class CountOnlyTokenizer(Tokenizer):
    """Counts of a model whose provider publishes no tokenizer: there are no ids to show."""

    def __init__(self, name: str, count: Callable[[str], int], label: str, vendor: str, *, estimated: bool) -> None:
        self.name = name
        self._count = count
        self._label = label
        self._vendor = vendor
        self.estimated = estimated

    def count(self, text: str) -> int:
        # An empty text is 0 tokens, as `wc` counts 0 words; the count endpoints refuse empty content.
        return self._count(text) if text else 0

    def _no_ids(self) -> UsageError:
        return UsageError(f"{self._label}: {self._vendor} publishes no tokenizer, so llmctl can count its tokens "
                          "but not show or decode them")

    def encode(self, text: str) -> list[int]:
        raise self._no_ids()

    def decode(self, ids: list[int]) -> str:
        raise self._no_ids()

    def token_bytes(self, token_id: int) -> bytes:
        raise self._no_ids()

    @property
    def vocab_size(self) -> int:
        raise self._no_ids()

    def check_ids(self, ids: list[int]) -> None:
        raise self._no_ids()


def estimate_counter() -> Callable[[str], int]:
    from llmctl.providers.openai.tokens import tokenizer_for_encoding

    return tokenizer_for_encoding(ESTIMATE_ENCODING).count


class NativeProvider(HostedProvider):
    """A hosted provider spoken to through its REST API with llmctl's own HTTP client."""

    #: the header that carries the key (sent to the provider's own host only)
    key_header_name: ClassVar[str]
    #: the company, for messages
    vendor: ClassVar[str]

    # ------------------------------------------------------------------ client
    def _build_client(self) -> Any:
        from llmctl.core.http import client_options, make_client

        creds = self.credentials()
        settings = client_options(dict(self.options))
        return make_client(secrets=self.secrets(), key_header=self.key_header(creds), headers=self.fixed_headers(),
                           **settings)

    def fixed_headers(self) -> dict[str, str]:
        """Headers every request carries (an API version)."""
        return {}

    def key_header(self, creds: Credentials) -> Any:
        from llmctl.core.http import KeyHeader

        header = super().key_header(creds)
        if header is None or not creds.key:
            return None
        return KeyHeader(header.host, self.key_header_name, creds.key)

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
        """POST a JSON body and yield the JSON data of each server-sent event of the answer."""
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
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise ProviderError(f"{ref.label}: the stream carried an event that is not JSON: "
                                            f"{self.redacted(data)[:200]!r}") from None
                    if isinstance(event, dict):
                        yield event
        except httpx2.TransportError as exc:
            raise self.transport_error(ref, exc, streaming=started) from None

    # ------------------------------------------------------------------ token counts
    @classmethod
    def env_key(cls) -> str | None:
        return os.environ.get(cls.own_key_env(), "").strip() or None

    def can_count(self) -> bool:
        """Whether the provider's count endpoint can be asked: its own host, with its key set."""
        return not self.custom_endpoint and self.env_key() is not None

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        # Local and quick: what splits long texts into chunks (a count endpoint call per piece would not do).
        return CountOnlyTokenizer(f"tiktoken:{ESTIMATE_ENCODING}", estimate_counter(), ref.label, self.vendor,
                                  estimated=True)

    @classmethod
    def standalone_tokenizer(cls, ref: ModelRef) -> Tokenizer | None:
        if ref.settings.get("custom_endpoint") or cls.env_key() is None:
            return CountOnlyTokenizer(f"tiktoken:{ESTIMATE_ENCODING}", estimate_counter(), ref.label, cls.vendor,
                                      estimated=True)
        return None  # the provider instance asks the count endpoint

    def counting_tokenizer(self, ref: ModelRef) -> Tokenizer:
        if not self.can_count():
            return self.tokenizer(ref)
        return CountOnlyTokenizer(self.count_endpoint_name, lambda text: self.count_text(ref, text), ref.label,
                                  self.vendor, estimated=False)

    def count_request(self, ref: ModelRef, request: CompletionRequest) -> int:
        if not self.can_count():
            return super().count_request(ref, request)  # the message texts, estimated
        return self.count_messages(ref, request)

    #: what a count from the endpoint says it came from (`tokenize --json` shows it as the tokenizer)
    count_endpoint_name: ClassVar[str]

    def count_text(self, ref: ModelRef, text: str) -> int:
        """One text's tokens as the provider counts it, sent as one user message."""
        return self.count_messages(ref, CompletionRequest(text))

    def count_messages(self, ref: ModelRef, request: CompletionRequest) -> int:
        raise NotImplementedError


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


def finish_reason(value: Any, mapping: dict[str, str]) -> str | None:
    """A provider's stop reason in the words the other providers use (stop, length, content_filter)."""
    if not isinstance(value, str) or not value:
        return None
    return mapping.get(value, value.lower())


def refuse(ref: ModelRef, vendor: str, flag: str, value: Any) -> None:
    """An option the API has no parameter for is exit 2, never silence."""
    if value is not None:
        raise UsageError(f"{flag} is not supported by the {vendor} API ({ref.label})")


def int_field(data: Any, name: str) -> int:
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
