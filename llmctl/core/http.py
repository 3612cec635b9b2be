"""The one HTTP client stack: timeouts, money-safe retries, key guarding, redacted request traces.

Every HTTP provider sends through a client built here (providers/rest.py), so a request is retried by
exactly one policy. A retry happens only where the first try cannot
have been billed: the connection was never made (connect errors and timeouts), or the server
answered 429, 408, 409 or 5xx before any output. A POST the server may have accepted (a read
timeout, a connection dropped after the body was sent) is sent again only where sending it twice
does no harm (GET, PUT, DELETE, a batch cancel); any other (a generation, embeddings, a file
upload) is sent again only with `retry_timeouts`, since the provider may be billing it still.
Creating a batch is never sent twice, not even on a 5xx: the caller looks the batch up instead.
A `Retry-After` longer than `max_wait` is not shortened: the 429 comes back to the caller, which
says when to come back.
Every request passes a key guard: the only credential header that leaves is the one the provider
chose to send (an SDK that reads a key from the environment by itself gets nothing through).
The `transport=` argument is the test seam: an `httpx2.MockTransport` or any other transport.
"""

from __future__ import annotations

import email.utils
import random
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx2

#: Seconds to wait for a response (the SDKs' own default: a long generation takes minutes).
DEFAULT_TIMEOUT = 600.0
#: Seconds to wait for a connection; a host that does not answer in this long is down.
CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 3
#: The longest `Retry-After` llmctl waits by itself (seconds); `--max-wait` changes it.
DEFAULT_MAX_WAIT = 60.0
#: 529 is "overloaded", answered before any output, as a 503 is.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
#: Headers whose values are secrets; a trace shows them as [redacted].
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key", "proxy-authorization",
                            "cookie"})
#: Headers that carry a provider key; only the one the provider set on purpose is sent.
KEY_HEADERS = ("authorization", "api-key", "x-api-key", "x-goog-api-key")
REDACTED = "[redacted]"
# Keys as providers print them back in error bodies (OpenAI masks all but a few characters),
# bearer tokens echoed by proxies, and long opaque tokens such as Mistral's 32-character keys.
_KEYLIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_\-*.]{6,}|(?i:bearer)\s+\S+|\b[A-Za-z0-9]{32,}\b")
#: Transport errors raised before the request left this machine: always safe to send again.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)
#: Endpoint names whose requests make a model write text (billed per output token).
_GENERATION_PATHS = re.compile(r"/(?:chat/completions|completions|responses|fim/completions|agents/completions)/?$")
#: Methods that mean the same however often they arrive (RFC 9110, 9.2.2).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: POSTs that do no more the second time: cancelling a batch that is already being cancelled.
_IDEMPOTENT_POSTS = re.compile(r"/(?:batches|batch/jobs)/[^/]+/cancel/?$")
#: Creating a batch (OpenAI, Mistral): a second request is a second batch, billed again.
_BATCH_CREATE = re.compile(r"/(?:batches|batch/jobs)/?$")

TraceSink = Callable[[str], None]


def stderr_trace(line: str) -> None:
    """The --verbose sink: one line per attempt on stderr, in the style of Output.debug."""
    sys.stderr.write(f"· {line}\n")
    sys.stderr.flush()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every given secret, and anything shaped like an API key, replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _KEYLIKE.sub(REDACTED, text)


@dataclass(frozen=True)
class KeyHeader:
    """The one credential header requests may carry, and the only host that may receive it."""

    host: str
    name: str
    value: str

    def __repr__(self) -> str:
        return f"KeyHeader(host={self.host!r}, name={self.name!r}, value={REDACTED!r})"


def is_generation(request: httpx2.Request) -> bool:
    """Whether this request asks a model to write (and so may be billed once it was accepted)."""
    return request.method == "POST" and bool(_GENERATION_PATHS.search(request.url.path))


#: A request extension a provider sets on a POST that is free and changes nothing (a token count).
SAFE_TO_RESEND = "llmctl_safe_to_resend"


def is_idempotent(request: httpx2.Request) -> bool:
    """Whether sending this request twice has the effect of sending it once."""
    return request.method in _IDEMPOTENT_METHODS or request.extensions.get(SAFE_TO_RESEND) is True or (
        request.method == "POST" and bool(_IDEMPOTENT_POSTS.search(request.url.path)))


def is_batch_create(request: httpx2.Request) -> bool:
    """Whether this request creates a provider batch (never sent twice)."""
    return request.method == "POST" and bool(_BATCH_CREATE.search(request.url.path))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait. Attempt n (from 0) waits base * 2**n, jittered, capped."""

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    #: The longest Retry-After honoured; a longer one ends the retries.
    max_wait: float = DEFAULT_MAX_WAIT
    #: Send a POST again after it was accepted and then timed out or dropped (it may be paid twice).
    retry_timeouts: bool = False

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        # Jitter spreads clients that failed together so they do not retry in lockstep.
        return ceiling * (0.5 + random.random() / 2)


def retry_after_seconds(headers: httpx2.Headers, now: float | None = None) -> float | None:
    """The wait a server asked for: `retry-after-ms`, `Retry-After` seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


#: Where the transport leaves its account of a request on the response or the error it raised.
ATTEMPTS = "llmctl_attempts"
WAIT_REFUSED = "llmctl_wait_refused"
NOT_RESENT = "llmctl_not_resent"


def attempts_of(thing: Any) -> int | None:
    """How many times the transport sent the request behind a response or an exception."""
    extensions = getattr(thing, "extensions", None)
    if isinstance(extensions, dict) and isinstance(extensions.get(ATTEMPTS), int):
        return int(extensions[ATTEMPTS])
    value = getattr(thing, ATTEMPTS, None)
    return value if isinstance(value, int) else None


def refused_wait(response: Any) -> float | None:
    """The Retry-After (seconds) that was longer than max_wait, when that is why retries stopped."""
    extensions = getattr(response, "extensions", None)
    if isinstance(extensions, dict) and isinstance(extensions.get(WAIT_REFUSED), float):
        return float(extensions[WAIT_REFUSED])
    return None


class RetryingTransport(httpx2.BaseTransport):
    """Wraps a transport; guards keys, retries what cannot have been billed, traces every attempt."""

    def __init__(self, inner: httpx2.BaseTransport, policy: RetryPolicy, *,
                 trace: TraceSink | None = None, secrets: Iterable[str] = (),
                 sleep: Callable[[float], None] = time.sleep, key_header: KeyHeader | None = None,
                 timeout: httpx2.Timeout | None = None) -> None:
        self._inner = inner
        self._timeout = timeout
        self._policy = policy
        self._trace = trace
        self._secrets = tuple(s for s in secrets if s)
        self._sleep = sleep
        self._key_header = key_header

    def __repr__(self) -> str:
        return f"RetryingTransport(max_retries={self._policy.max_retries})"

    def _say(self, line: str) -> None:
        if self._trace is not None:
            self._trace(redact(line, self._secrets))

    def _describe(self, request: httpx2.Request) -> str:
        headers = " ".join(
            f"{name}={REDACTED if name.lower() in SECRET_HEADERS else value}"
            for name, value in request.headers.items()
            if name.lower() in SECRET_HEADERS or name.lower() in ("content-type", "content-length")
        )
        return f"{request.method} {request.url} [{headers}]"

    def _guard_key(self, request: httpx2.Request) -> None:
        """Drop every key header but the one chosen, whatever the SDK found in the environment.

        The chosen key goes only to its own host: a redirect elsewhere arrives here without it.
        """
        for name in KEY_HEADERS:
            if name in request.headers:
                del request.headers[name]
        key = self._key_header
        if key is not None and request.url.netloc.decode("ascii").lower() == key.host:
            request.headers[key.name] = key.value

    def _may_resend(self, request: httpx2.Request, exc: httpx2.TransportError) -> tuple[bool, str]:
        if isinstance(exc, _NOT_SENT):
            return True, "not sent"
        if isinstance(exc, (httpx2.WriteError, httpx2.WriteTimeout)):
            return True, "the request was not fully sent"
        if is_idempotent(request):
            return True, "the request was accepted; sending it again does no harm"
        if is_batch_create(request):
            return False, "the batch may have been created; a batch is never created twice"
        if self._policy.retry_timeouts:
            return True, "the request was accepted and may be billed; sent again as --retry-timeouts asks"
        return False, "the request was accepted and may be billed; not sent again (--retry-timeouts sends it)"

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        policy = self._policy
        self._guard_key(request)
        if self._timeout is not None:
            # An SDK may set one flat per-request timeout (mistralai: 300 s, connect included);
            # the client's own timeouts (connect short, read long) are the ones that hold.
            request.extensions["timeout"] = self._timeout.as_dict()
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = self._inner.handle_request(request)
            except httpx2.TransportError as exc:
                elapsed = (time.perf_counter() - started) * 1000
                resend, why = self._may_resend(request, exc)
                setattr(exc, ATTEMPTS, attempt + 1)
                if not resend or attempt >= policy.max_retries:
                    if not resend:
                        setattr(exc, NOT_RESENT, True)
                    self._say(f"{self._describe(request)} -> {type(exc).__name__} after {elapsed:.0f} ms ({why}); "
                              f"giving up after {attempt + 1} attempt(s)")
                    raise
                wait = policy.backoff(attempt)
                self._say(f"{self._describe(request)} -> {type(exc).__name__} after {elapsed:.0f} ms ({why}); "
                          f"retry {attempt + 1}/{policy.max_retries} in {wait:.2f} s")
                self._sleep(wait)
                attempt += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            response.extensions[ATTEMPTS] = attempt + 1
            # A 5xx (or 408, 409) to a batch creation may come after the batch was made; only a 429
            # says for certain that nothing was.
            if status in RETRY_STATUSES and attempt < policy.max_retries and (
                    status == 429 or not is_batch_create(request)):
                asked = retry_after_seconds(response.headers)
                if asked is not None and asked > policy.max_wait:
                    # Waiting less than asked would only be refused again; the caller says when to return.
                    response.extensions[WAIT_REFUSED] = float(asked)
                    self._say(f"{self._describe(request)} -> {status} after {elapsed:.0f} ms; Retry-After "
                              f"{asked:.0f} s is more than --max-wait {policy.max_wait:g} s; not retrying")
                    return response
                wait = asked if asked is not None else policy.backoff(attempt)
                response.close()
                self._say(f"{self._describe(request)} -> {status} after {elapsed:.0f} ms ({_status_reason(status)}); "
                          f"retry {attempt + 1}/{policy.max_retries} in {wait:.2f} s"
                          + (" (Retry-After)" if asked is not None else ""))
                self._sleep(wait)
                attempt += 1
                continue
            self._say(f"{self._describe(request)} -> {status} after {elapsed:.0f} ms (attempt {attempt + 1})")
            return response

    def close(self) -> None:
        self._inner.close()


def _status_reason(status: int) -> str:
    if status == 429:
        return "rate limited"
    if status in (408, 409):
        return "the server asks for the request again"
    return "server error before any output"


def make_timeout(seconds: float | None) -> httpx2.Timeout:
    """Connect short, read long, as the SDKs do; `seconds` (--timeout) sets the wait for a response."""
    total = DEFAULT_TIMEOUT if seconds is None else float(seconds)
    return httpx2.Timeout(total, connect=min(total, CONNECT_TIMEOUT))


def make_client(*, timeout: float | None = None, max_retries: int | None = None,
                transport: httpx2.BaseTransport | None = None, trace: TraceSink | None = None,
                secrets: Iterable[str] = (), backoff_base: float | None = None,
                max_wait: float | None = None, retry_timeouts: bool = False,
                key_header: KeyHeader | None = None,
                max_connections: int = 64, headers: dict[str, str] | None = None) -> httpx2.Client:
    """The client every HTTP provider uses; hand it to an SDK with the SDK's retries off.

    `key_header` is the one credential header requests may carry (None: no key at all).
    """
    policy = RetryPolicy(
        max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max(0, int(max_retries)),
        backoff_base=0.5 if backoff_base is None else float(backoff_base),
        max_wait=DEFAULT_MAX_WAIT if max_wait is None else float(max_wait),
        retry_timeouts=bool(retry_timeouts),
    )
    inner = transport or httpx2.HTTPTransport(
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    )
    secrets = [s for s in secrets if s] + ([key_header.value] if key_header else [])
    timeouts = make_timeout(timeout)
    return httpx2.Client(
        transport=RetryingTransport(inner, policy, trace=trace, secrets=secrets, key_header=key_header,
                                    timeout=timeouts),
        timeout=timeouts,
        headers=headers,
        follow_redirects=True,
    )


def client_options(options: dict[str, Any]) -> dict[str, Any]:
    """The make_client arguments found in a provider's options (only those the user set)."""
    found: dict[str, Any] = {}
    for key in ("timeout", "max_retries", "transport", "backoff_base", "max_wait", "retry_timeouts"):
        if options.get(key) is not None:
            found[key] = options[key]
    if options.get("verbose"):
        found["trace"] = options.get("trace") or stderr_trace
    elif options.get("trace") is not None:
        found["trace"] = options["trace"]
    return found
