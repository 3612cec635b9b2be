"""What the HTTP API providers (openai, mistral, and the native ones) share: keys, option checks, errors, embed
batching."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
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
from llmctl.providers.api_errors import provider_message
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

if TYPE_CHECKING:
    from llmctl.providers.options import HostedOptions

#: The variables that hold the keys of the built-in providers: none of their values is ever echoed.
KNOWN_KEY_ENVS = ("OPENAI_API_KEY", "MISTRAL_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                  "HF_TOKEN")

#: What an OpenAI-compatible server without keys is sent instead of a real key.
PLACEHOLDER_KEY = "llmctl-no-key"


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
    host: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(key={'set' if self.key else 'none'}, key_env={self.key_env!r})"


class HostedProvider(Provider):
    """A provider that speaks to an HTTP API (through an official SDK, or natively: providers/native.py)."""

    default_key_env: ClassVar[str]
    default_base_url: ClassVar[str]
    temperature_range: ClassVar[tuple[float, float]] = (0.0, 2.0)
    embed_limits: ClassVar[EmbedLimits]

    options: HostedOptions

    @classmethod
    def option_model(cls) -> type[HostedOptions]:
        from llmctl.providers.options import HostedOptions

        return HostedOptions

    def __init__(self, options: HostedOptions | Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._client: Any = None
        self._lock = threading.Lock()
        self._creds: Credentials | None = None

    # ------------------------------------------------------------------ the SDK client
    def load(self, ref: ModelRef, capability: str = COMPLETE) -> None:
        from llmctl.providers.usage_estimate import named_tokenizer_ref

        # A profile's unknown tokenizer is a configuration error before anything is sent (or paid).
        named_tokenizer_ref(ref.settings)
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
        return self.options.base_url or self.default_base_url

    @property
    def custom_endpoint(self) -> bool:
        return self.options.custom_endpoint

    def credentials(self) -> Credentials:
        """The key to send, from the environment, and the one host it may go to.

        The provider's own key (OPENAI_API_KEY, MISTRAL_API_KEY) goes only to the provider's own
        host; a profile's host gets the key its `key_env` names, or none; an ad-hoc `--base-url`
        host gets none (a server that needs a key is a profile with `key_env`).
        """
        profile = self.options.profile
        host = _host(self.base_url)
        if profile:
            key_env = self.options.key_env
            home = self.options.profile_base_url or self.base_url
            if not key_env or _host(str(home)) != host:
                return self._remember(Credentials(None, None))
        elif host == _host(self.default_base_url):
            key_env = self.own_key_env()
        else:
            return self._remember(Credentials(None, None))
        key = os.environ.get(str(key_env), "").strip()
        if not key:
            where = f"the profile {profile!r}" if profile else self.kind
            raise AuthError(f"{key_env} is not set; {where} needs an API key",
                            hint=f"export {key_env}=... in your shell")
        return self._remember(Credentials(key, str(key_env), host))

    @classmethod
    def own_key_env(cls) -> str:
        """The variable holding the provider's own key (one provider reads the first of several that is set)."""
        return cls.default_key_env

    def _remember(self, creds: Credentials) -> Credentials:
        self._creds = creds
        return creds

    def key_header(self, creds: Credentials) -> Any:
        """The one credential header the HTTP client lets through (to `creds.host` only)."""
        import httpx2

        from llmctl.core.http import KeyHeader

        if not creds.key or not creds.host:
            return None
        # The host as the client writes it on each request (default ports dropped, lower case).
        host = httpx2.URL(self.base_url).netloc.decode("ascii").lower()
        return KeyHeader(host, "authorization", f"Bearer {creds.key}")

    def secrets(self) -> list[str]:
        """Every key this process could know of, so none of them is ever echoed back."""
        names = {self.default_key_env, *KNOWN_KEY_ENVS, str(self.options.key_env or "")}
        return [v for v in (os.environ.get(n, "").strip() for n in names if n) if len(v) >= 6]

    def capabilities(self, ref: ModelRef) -> frozenset[str]:
        caps = ref.capabilities
        if caps:
            return caps
        # An unknown model on a custom endpoint: let the server say what it can do.
        return frozenset({COMPLETE, EMBED, TOKENIZE}) if self.custom_endpoint else frozenset({TOKENIZE})

    @property
    def concurrency(self) -> int:
        return self.options.concurrency

    # ------------------------------------------------------------------ request checks
    def check_request(self, ref: ModelRef, request: CompletionRequest) -> None:
        """Refuse what the API would reject or ignore, before anything is sent."""
        if not request.prompt.strip() and not request.history:
            raise InputError("empty prompt")
        max_output = ref.facts.max_output
        if request.max_tokens is not None and max_output is not None and request.max_tokens > max_output:
            raise UsageError(f"--max-tokens {request.max_tokens} is more than {ref.label} can write ({max_output})")
        low, high = self.temperature_range
        if request.temperature is not None and not low <= request.temperature <= high:
            raise UsageError(f"--temperature must be between {low:g} and {high:g} for {self.kind}, "
                             f"not {request.temperature:g}")

    def check_embed(self, ref: ModelRef, request: EmbeddingRequest) -> None:
        if not request.texts:
            raise InputError("nothing to embed")
        for i, text in enumerate(request.texts):
            if not text.strip():
                raise InputError(f"input {i + 1} is empty; there is nothing to embed")
        if request.dimensions is not None:
            if request.dimensions < 1:
                raise UsageError(f"--dimensions must be at least 1, not {request.dimensions}")
            if not ref.facts.variable_dimensions and not self.custom_endpoint:
                raise UsageError(f"{ref.label} has a fixed size ({ref.facts.dimensions or '?'} dimensions); "
                                 "--dimensions works only with models that can shorten their vectors")
            full = ref.facts.dimensions
            if full is not None and request.dimensions > full:
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

    #: Whether OpenAI's documented chat framing holds for this provider's own models.
    chat_framing: ClassVar[bool] = False

    def estimator(self, ref: ModelRef) -> Any:
        """What counts usage the server did not report (see usage_estimate)."""
        from llmctl.providers.usage_estimate import estimator_for

        return estimator_for(ref, lambda: self.tokenizer(ref), custom_endpoint=self.custom_endpoint,
                             chat_framing=self.chat_framing)

    def estimate_usage(self, ref: ModelRef, request: CompletionRequest, text: str) -> Usage:
        """Count what the server did not report: prompt as the chat is laid out, and the answer."""
        return self.estimator(ref).completion_usage(request.messages(), text)

    def estimate_input_usage(self, ref: ModelRef, texts: list[str]) -> Usage:
        return self.estimator(ref).input_usage(texts)

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
    def status_error(self, ref: ModelRef, status: int, body: Any, attempts: int | None = None,
                     refused_wait: float | None = None) -> LlmctlError:
        """The llmctl error for an HTTP error status after retries.

        `attempts` is how many times the request was sent; `refused_wait` a Retry-After (seconds)
        longer than --max-wait, which ends the retries with a time to come back.
        """
        attempts = attempts or 1
        message = self.redacted(provider_message(body) or f"HTTP {status}")
        where = f"{ref.label}"
        if status in (401, 403):
            what = "authentication failed" if status == 401 else "permission denied"
            return AuthError(f"{where}: {what} ({status}): {message}", hint=self._key_hint())
        if status == 429 and refused_wait is not None:
            import datetime

            back = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=refused_wait)
            limit = self.options.max_wait
            from llmctl.core.http import DEFAULT_MAX_WAIT

            limit = DEFAULT_MAX_WAIT if limit is None else float(limit)
            return RateLimitError(
                f"{where}: rate limited (429); the server asks to wait {refused_wait:.0f} s, more than "
                f"--max-wait {limit:g} s: try again after {back:%Y-%m-%d %H:%M:%S} UTC: {message}", status=status)
        if status == 429:
            return RateLimitError(f"{where}: rate limited (429) after {attempts} attempt(s): {message}", status=status)
        if status >= 500 or status in (408, 409):
            return ProviderError(f"{where}: server error ({status}) after {attempts} attempt(s): {message}",
                                 status=status)
        if status in (400, 404, 413, 422):
            return UsageError(f"{where}: the provider refused the request ({status}): {message}")
        return ProviderError(f"{where}: HTTP {status}: {message}", status=status)

    def redacted(self, text: str) -> str:
        """`text` with every known key, and anything shaped like one, replaced."""
        from llmctl.core.http import redact

        # Providers echo (masked) keys in 401 bodies, proxies the header they got: none of it
        # reaches the user's terminal.
        return redact(text, self.secrets())

    def _key_hint(self) -> str:
        """What to check after a 401/403: the variable whose key was sent, or that none was."""
        creds = self._creds
        if creds is not None and creds.key_env:
            return f"check {creds.key_env}"
        host = _host(self.base_url)
        if self.options.profile:
            return f"no key was sent to {host}; set key_env in the profile {self.options.profile!r}"
        return (f"no key was sent to {host}; {self.default_key_env} goes only to {_host(self.default_base_url)}, "
                "so a server that needs a key is a profile with key_env")

    def transport_error(self, ref: ModelRef, exc: BaseException, *, streaming: bool = False) -> NetworkError:
        """The llmctl error for a timeout, a refused connection or a cut stream."""
        import httpx2

        name = type(exc).__name__
        if streaming:
            return NetworkError(f"{ref.label}: the stream was cut before the answer was complete ({name})")
        from llmctl.core.http import NOT_RESENT, attempts_of

        tries = attempts_of(exc)
        if getattr(exc, NOT_RESENT, False):
            what = "timed out" + self._timeout_text() if isinstance(exc, httpx2.TimeoutException) else "was dropped"
            return NetworkError(f"{ref.label}: the request {what} ({name}) after the server accepted it; it was not "
                                "sent again, since the provider may already bill it",
                                hint="raise --timeout, or pass --retry-timeouts to send it again")
        times = f" after {tries} attempt(s)" if tries and tries > 1 else ""
        if isinstance(exc, httpx2.TimeoutException):
            return NetworkError(f"{ref.label}: the request timed out{self._timeout_text()} ({name}){times}",
                                hint="raise --timeout or retry later")
        host = _host(self.base_url)
        detail = self.redacted(" ".join(str(exc).split())[:200])
        return NetworkError(f"{ref.label}: cannot reach {host} ({name}: {detail}){times}")

    def _timeout_text(self) -> str:
        seconds = self.options.timeout
        return f" after {seconds:g} s" if isinstance(seconds, (int, float)) else ""

    def status_failure(self, ref: ModelRef, status: int, body: Any, response: Any) -> LlmctlError:
        """status_error with the transport's own account of the attempts and any refused wait."""
        from llmctl.core.http import attempts_of, refused_wait

        return self.status_error(ref, status, body, attempts_of(response), refused_wait(response))


def normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def _host(url: str) -> str:
    """host[:port] as a request's URL writes it: lower case, the scheme's default port left out."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return host if port is None or port == default else f"{host}:{port}"
