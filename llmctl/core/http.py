"""The one HTTP client stack: timeouts, retries with backoff and jitter, redacted request traces.

Both SDKs (openai, mistralai) are handed a client built here with their own retries turned off,
so a request is retried by exactly one policy: on 429, 5xx and connection errors or timeouts,
with exponential backoff and jitter, honouring `Retry-After` (and OpenAI's `retry-after-ms`).
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

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 3
#: Whatever a server says in Retry-After, one wait never exceeds this (seconds).
MAX_RETRY_WAIT = 60.0
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: Headers whose values are secrets; a trace shows them as [redacted].
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization", "cookie"})
REDACTED = "[redacted]"
# Keys as providers print them back in error bodies (OpenAI masks all but a few characters).
_KEYLIKE = re.compile(r"\b(?:sk|key)-[A-Za-z0-9_\-*.]{6,}")

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
class RetryPolicy:
    """How often and how long to wait. Attempt n (from 0) waits base * 2**n, jittered, capped."""

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = 0.5
    backoff_cap: float = 20.0

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


class RetryingTransport(httpx2.BaseTransport):
    """Wraps a transport; retries what is worth retrying and traces every attempt."""

    def __init__(self, inner: httpx2.BaseTransport, policy: RetryPolicy, *,
                 trace: TraceSink | None = None, secrets: Iterable[str] = (),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._inner = inner
        self._policy = policy
        self._trace = trace
        self._secrets = tuple(s for s in secrets if s)
        self._sleep = sleep

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

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        policy = self._policy
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                response = self._inner.handle_request(request)
            except httpx2.TransportError as exc:
                elapsed = (time.perf_counter() - started) * 1000
                if attempt >= policy.max_retries:
                    self._say(f"{self._describe(request)} -> {type(exc).__name__} after {elapsed:.0f} ms; "
                              f"giving up after {attempt + 1} attempt(s)")
                    raise
                wait = policy.backoff(attempt)
                self._say(f"{self._describe(request)} -> {type(exc).__name__} after {elapsed:.0f} ms; "
                          f"retry {attempt + 1}/{policy.max_retries} in {wait:.2f} s")
                self._sleep(wait)
                attempt += 1
                continue
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            if status in RETRY_STATUSES and attempt < policy.max_retries:
                asked = retry_after_seconds(response.headers)
                wait = min(MAX_RETRY_WAIT, asked) if asked is not None else policy.backoff(attempt)
                response.close()
                self._say(f"{self._describe(request)} -> {status} after {elapsed:.0f} ms; "
                          f"retry {attempt + 1}/{policy.max_retries} in {wait:.2f} s"
                          + (" (Retry-After)" if asked is not None else ""))
                self._sleep(wait)
                attempt += 1
                continue
            self._say(f"{self._describe(request)} -> {status} after {elapsed:.0f} ms (attempt {attempt + 1})")
            return response

    def close(self) -> None:
        self._inner.close()


def make_timeout(seconds: float | None) -> httpx2.Timeout:
    total = DEFAULT_TIMEOUT if seconds is None else float(seconds)
    return httpx2.Timeout(total, connect=min(total, 10.0))


def make_client(*, timeout: float | None = None, max_retries: int | None = None,
                transport: httpx2.BaseTransport | None = None, trace: TraceSink | None = None,
                secrets: Iterable[str] = (), backoff_base: float | None = None,
                max_connections: int = 64, headers: dict[str, str] | None = None) -> httpx2.Client:
    """The client every HTTP provider uses; hand it to an SDK with the SDK's retries off."""
    policy = RetryPolicy(
        max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max(0, int(max_retries)),
        backoff_base=0.5 if backoff_base is None else float(backoff_base),
    )
    inner = transport or httpx2.HTTPTransport(
        limits=httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    )
    return httpx2.Client(
        transport=RetryingTransport(inner, policy, trace=trace, secrets=secrets),
        timeout=make_timeout(timeout),
        headers=headers,
        follow_redirects=True,
    )


def client_options(options: dict[str, Any]) -> dict[str, Any]:
    """The make_client arguments found in a provider's options (only those the user set)."""
    found: dict[str, Any] = {}
    for key in ("timeout", "max_retries", "transport", "backoff_base"):
        if options.get(key) is not None:
            found[key] = options[key]
    if options.get("verbose"):
        found["trace"] = options.get("trace") or stderr_trace
    elif options.get("trace") is not None:
        found["trace"] = options["trace"]
    return found
