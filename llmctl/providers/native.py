"""What providers that publish no tokenizer share (Anthropic, Gemini): the key in the provider's own header,
and token counts from the provider's count endpoint, or estimated with o200k_base where none can be asked.

They are spoken to through their REST APIs (providers/rest.py); a count is free and changes nothing, so it
is sent as `free` (safe to send again).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

from llmctl.core.errors import UsageError
from llmctl.providers.base import CompletionRequest, ModelRef, Tokenizer
from llmctl.providers.hosted import Credentials
from llmctl.providers.rest import RestProvider

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


class NativeProvider(RestProvider):
    """A provider with no published tokenizer, spoken to through its REST API, counting with its count endpoint."""

    #: the header that carries the key (sent to the provider's own host only)
    key_header_name: ClassVar[str]
    #: the company, for messages
    vendor: ClassVar[str]

    def key_header(self, creds: Credentials) -> Any:
        from llmctl.core.http import KeyHeader

        header = super().key_header(creds)
        if header is None or not creds.key:
            return None
        return KeyHeader(header.host, self.key_header_name, creds.key)

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
        if ref.settings.custom_endpoint or cls.env_key() is None:
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
