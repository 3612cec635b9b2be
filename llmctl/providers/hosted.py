"""What the HTTP API providers (openai, mistral) share: keys, option checks, errors, embed batching."""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from llmctl.core.errors import (
    AuthError,
    InputError,
    LlmctlError,
    NetworkError,
    ProviderError,
    RateLimitError,
    UsageError,
)
from llmctl.core.usage import Usage
from llmctl.providers.base import (
    COMPLETE,
    EMBED,
    TOKENIZE,
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ModelRef,
    Provider,
)

#: What an OpenAI-compatible server without keys is sent instead of a real key.
PLACEHOLDER_KEY = "llmctl-no-key"
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class EmbedLimits:
    """Per-request limits of an embeddings endpoint."""

    max_inputs: int
    max_request_tokens: int
    max_input_tokens: int | None


@dataclass(frozen=True)
class Credentials:
    key: str | None
    key_env: str | None

    def __repr__(self) -> str:
        return f"Credentials(key={'set' if self.key else 'none'}, key_env={self.key_env!r})"


class HostedProvider(Provider):
    """A provider that speaks to an HTTP API through one of the official SDKs."""

    default_key_env: ClassVar[str]
    default_base_url: ClassVar[str]
    temperature_range: ClassVar[tuple[float, float]] = (0.0, 2.0)
    embed_limits: ClassVar[EmbedLimits]

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._client: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the SDK client
    def load(self, ref: ModelRef, capability: str = COMPLETE) -> None:
        self.client()

    def client(self) -> Any:
        """The SDK client, built once (lazily: the SDK is imported on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        # The options never hold a key, but say nothing of credentials all the same.
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ endpoint and key
    @property
    def base_url(self) -> str:
        return str(self.options.get("base_url") or self.default_base_url)

    @property
    def custom_endpoint(self) -> bool:
        return bool(self.options.get("custom_endpoint"))

    def credentials(self) -> Credentials:
        """The key to send, from the environment. A foreign host never gets the provider's own key."""
        key_env = self.options.get("key_env")
        profile = self.options.get("profile")
        if self.custom_endpoint and not profile:
            # An ad-hoc --base-url: only the provider's own host gets the provider's key.
            if _host(self.base_url) != _host(self.default_base_url):
                return Credentials(None, None)
        if not key_env:
            if profile:
                return Credentials(None, None)
            key_env = self.default_key_env
        key = os.environ.get(str(key_env), "").strip()
        self._secret = key
        if not key:
            where = f"the profile {profile!r}" if profile else self.kind
            raise AuthError(f"{key_env} is not set; {where} needs an API key",
                            hint=f"export {key_env}=... in your shell")
        return Credentials(key, str(key_env))

    def capabilities(self, ref: ModelRef) -> frozenset[str]:
        caps = ref.capabilities
        if caps:
            return caps
        # An unknown model on a custom endpoint: let the server say what it can do.
        return frozenset({COMPLETE, EMBED, TOKENIZE}) if self.custom_endpoint else frozenset({TOKENIZE})

    @property
    def concurrency(self) -> int:
        value = self.options.get("concurrency") or DEFAULT_CONCURRENCY
        return max(1, int(value))

    # ------------------------------------------------------------------ request checks
    def check_request(self, ref: ModelRef, request: CompletionRequest) -> None:
        """Refuse what the API would reject or ignore, before anything is sent."""
        if not request.prompt.strip() and not request.history:
            raise InputError("empty prompt")
        if request.max_tokens is not None and request.max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1, not {request.max_tokens}")
        max_output = ref.spec.get("max_output")
        if request.max_tokens is not None and isinstance(max_output, int) and request.max_tokens > max_output:
            raise UsageError(f"--max-tokens {request.max_tokens} is more than {ref.label} can write ({max_output})")
        low, high = self.temperature_range
        if request.temperature is not None and not low <= request.temperature <= high:
            raise UsageError(f"--temperature must be between {low:g} and {high:g} for {self.kind}, "
                             f"not {request.temperature:g}")
        if request.top_p is not None and not 0.0 <= request.top_p <= 1.0:
            raise UsageError(f"--top-p must be between 0 and 1, not {request.top_p:g}")
        if request.top_k is not None and request.top_k < 1:
            raise UsageError(f"--top-k must be at least 1, not {request.top_k}")
        if any(not s for s in request.stop):
            raise UsageError("--stop cannot be empty")

    def check_embed(self, ref: ModelRef, request: EmbeddingRequest) -> None:
        if not request.texts:
            raise InputError("nothing to embed")
        for i, text in enumerate(request.texts):
            if not text.strip():
                raise InputError(f"input {i + 1} is empty; there is nothing to embed")
        if request.dimensions is not None:
            if request.dimensions < 1:
                raise UsageError(f"--dimensions must be at least 1, not {request.dimensions}")
            if not ref.spec.get("variable_dimensions") and not self.custom_endpoint:
                raise UsageError(f"{ref.label} has a fixed size ({ref.spec.get('dimensions', '?')} dimensions); "
                                 "--dimensions works only with models that can shorten their vectors")
            full = ref.spec.get("dimensions")
            if isinstance(full, int) and request.dimensions > full:
                raise UsageError(f"--dimensions {request.dimensions} is more than {ref.label} has ({full})")

    # ------------------------------------------------------------------ usage
    def stream_result(self, ref: ModelRef, request: CompletionRequest, parts: list[str], finish: str | None,
                      usage: Usage | None, model: str | None) -> Completion:
        """The completion a stream built, or an error when it ended before its finish reason."""
        text = "".join(parts)
        if finish is None:
            # No finish reason: the connection closed early, however cleanly it looked.
            raise NetworkError(f"{ref.label}: the stream ended before the answer was complete "
                               f"({len(text)} characters received)")
        return Completion(text, usage or self.estimate_usage(ref, request, text), finish, model)

    def estimate_usage(self, ref: ModelRef, request: CompletionRequest, text: str) -> Usage:
        """Count what the server did not report, with the model's own tokenizer."""
        tokenizer = self.tokenizer(ref)
        prompt_parts = [m["content"] for m in request.messages()]
        return Usage(sum(tokenizer.count(p) for p in prompt_parts), tokenizer.count(text), estimated=True)

    # ------------------------------------------------------------------ embeddings
    def split_for_limits(self, ref: ModelRef, texts: Sequence[str]) -> list[tuple[int, int]]:
        """Index ranges [start, end) of `texts`, each within the endpoint's per-request limits."""
        limits = self.embed_limits
        counter: Callable[[str], int] | None = None

        def tokens_of(text: str) -> int:
            nonlocal counter
            size = len(text.encode("utf-8"))
            # A token is at least one byte, so the byte length bounds the count from above;
            # only texts whose bound crosses a limit are tokenized.
            if size <= min(limits.max_input_tokens or size, limits.max_request_tokens // limits.max_inputs):
                return size
            if counter is None:
                counter = self.tokenizer(ref).count
            return counter(text)

        ranges: list[tuple[int, int]] = []
        start, budget = 0, 0
        for i, text in enumerate(texts):
            cost = tokens_of(text)
            if limits.max_input_tokens is not None and cost > limits.max_input_tokens and not self.custom_endpoint:
                raise InputError(f"input {i + 1} has {cost} tokens; {ref.label} embeds at most "
                                 f"{limits.max_input_tokens} tokens per input")
            if i > start and (i - start >= limits.max_inputs or budget + cost > limits.max_request_tokens):
                ranges.append((start, i))
                start, budget = i, 0
            budget += cost
        ranges.append((start, len(texts)))
        return ranges

    def embed_batches(self, ref: ModelRef, request: EmbeddingRequest,
                      send: Callable[[list[str]], Embeddings]) -> Embeddings:
        """Send every slice concurrently; vectors come back in input order."""
        self.check_embed(ref, request)
        ranges = self.split_for_limits(ref, request.texts)
        chunks = [request.texts[a:b] for a, b in ranges]
        if len(chunks) == 1:
            results = [send(chunks[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
                futures = [pool.submit(send, chunk) for chunk in chunks]
                try:
                    results = [f.result() for f in futures]
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
        vectors: list[list[float]] = []
        usage = Usage(0)
        for result in results:
            vectors.extend(result.vectors)
            usage = usage + result.usage
        if len(vectors) != len(request.texts):
            raise ProviderError(f"{ref.label}: asked for {len(request.texts)} embeddings, got {len(vectors)}")
        if request.normalize:
            vectors = [normalized(v) for v in vectors]
        return Embeddings(vectors, usage, results[0].response_model)

    # ------------------------------------------------------------------ errors
    def status_error(self, ref: ModelRef, status: int, body: Any, attempts: int) -> LlmctlError:
        """The llmctl error for an HTTP error status after retries."""
        from llmctl.core.http import redact

        # Providers echo (masked) keys in 401 bodies; none of it reaches the user's terminal.
        message = redact(provider_message(body) or f"HTTP {status}", [getattr(self, "_secret", "")])
        where = f"{ref.label}"
        if status in (401, 403):
            creds_env = self.options.get("key_env") or (None if self.custom_endpoint else self.default_key_env)
            hint = f"check {creds_env}" if creds_env else "set key_env in the profile to send a key"
            what = "authentication failed" if status == 401 else "permission denied"
            return AuthError(f"{where}: {what} ({status}): {message}", hint=hint)
        if status == 429:
            return RateLimitError(f"{where}: rate limited (429) after {attempts} attempt(s): {message}", status=status)
        if status >= 500 or status in (408, 409):
            return ProviderError(f"{where}: server error ({status}) after {attempts} attempt(s): {message}",
                                 status=status)
        if status in (400, 404, 413, 422):
            return UsageError(f"{where}: the provider refused the request ({status}): {message}")
        return ProviderError(f"{where}: HTTP {status}: {message}", status=status)

    def transport_error(self, ref: ModelRef, exc: BaseException, *, streaming: bool = False) -> NetworkError:
        """The llmctl error for a timeout, a refused connection or a cut stream."""
        import httpx2

        name = type(exc).__name__
        if streaming:
            return NetworkError(f"{ref.label}: the stream was cut before the answer was complete ({name})")
        if isinstance(exc, httpx2.TimeoutException):
            seconds = self.options.get("timeout")
            after = f" after {seconds:g} s" if isinstance(seconds, (int, float)) else ""
            return NetworkError(f"{ref.label}: the request timed out{after} ({name})",
                                hint="raise --timeout or retry later")
        host = _host(self.base_url)
        return NetworkError(f"{ref.label}: cannot reach {host} ({name}: {' '.join(str(exc).split())[:200]})")

    @property
    def attempts(self) -> int:
        retries = self.options.get("max_retries")
        from llmctl.core.http import DEFAULT_MAX_RETRIES

        return 1 + (DEFAULT_MAX_RETRIES if retries is None else max(0, int(retries)))


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


def normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()
