"""The `mistral` provider: Mistral's API (or a compatible server) through the official mistralai SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import NetworkError, ProviderError, UsageError
from llmctl.core.usage import Usage
from llmctl.providers.api_errors import not_json_error
from llmctl.providers.base import (
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ModelRef,
    TextSink,
    Tokenizer,
)
from llmctl.providers.hosted import EmbedLimits, HostedProvider

if TYPE_CHECKING:
    from llmctl.providers.mistral.batch import MistralBatchFormat


class MistralProvider(HostedProvider):
    kind = "mistral"
    extra = "mistral"
    default_key_env = "MISTRAL_API_KEY"
    default_base_url = "https://api.mistral.ai"
    # The API rejects temperatures above 1.5; its docs recommend 0.0 to 0.7.
    temperature_range = (0.0, 1.5)
    tool_calling = True
    # mistral-embed: 8192 tokens per input and 16384 tokens per request ("Too many tokens overall,
    # split into more batches"); 512 inputs keeps each request well inside what the API takes.
    embed_limits = EmbedLimits(max_inputs=512, max_request_tokens=16_384, max_input_tokens=8192)

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self._http: Any = None

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        return self.standalone_tokenizer(ref)

    # ------------------------------------------------------------------ what it declares
    @classmethod
    def price_sources(cls) -> dict[str, str]:
        return {"mistral": "mistral/"}

    def count_request(self, ref: ModelRef, request: CompletionRequest) -> int:
        from llmctl.providers.mistral.tokens import chat_tokens

        return chat_tokens(getattr(self.tokenizer(ref), "version", "tekken"), request.messages())

    def batch_format(self) -> MistralBatchFormat:
        from llmctl.providers.mistral.batch import MistralBatchFormat

        return MistralBatchFormat()

    @classmethod
    def standalone_tokenizer(cls, ref: ModelRef) -> Tokenizer:
        from llmctl.providers.mistral.tokens import mistral_tokenizer

        return mistral_tokenizer(ref)

    @property
    def server_url(self) -> str:
        # The SDK adds /v1/... itself; an OpenAI-style base URL ending in /v1 is accepted too.
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    # ------------------------------------------------------------------ client
    def _build_client(self) -> Any:
        from llmctl.core.http import client_options, make_client
        from llmctl.providers.registry import require_import

        sdk = require_import("mistralai.client", "the mistralai SDK", "mistral")
        creds = self.credentials()
        settings = client_options(dict(self.options))
        http = make_client(secrets=self.secrets(), key_header=self.key_header(creds), **settings)
        self._http = http
        key = creds.key
        return sdk.Mistral(
            # Given no key, the SDK would read MISTRAL_API_KEY (or a service-account token) by itself
            # and send it to whatever host this is; a callable that answers None stops that.
            api_key=key if key else (lambda: None),
            server_url=self.server_url,
            client=http,
            retry_config=None,  # llmctl.core.http retries; one policy, not two
            timeout_ms=None,  # the client's own timeouts: connect short, read long
        )

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
            self._client = self._http = None

    # ------------------------------------------------------------------ complete
    def _arguments(self, ref: ModelRef, request: CompletionRequest) -> dict[str, Any]:
        self.check_request(ref, request)
        from llmctl.providers.mistral.parts import chat_messages

        args: dict[str, Any] = {"model": ref.model, "messages": chat_messages(request)}
        optional = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "random_seed": request.seed,
            "top_k": request.top_k,
            "repetition_penalty": request.repeat_penalty,
        }
        args.update({k: v for k, v in optional.items() if v is not None})
        if request.stop:
            args["stop"] = list(request.stop)
        if request.json_schema is not None:
            from llmctl.core.schemas import strict_compatible

            args["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": request.json_schema, "strict": strict_compatible(request.json_schema)}}
        if request.tools:
            args["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in request.tools]
        if request.logprobs is not None:
            raise UsageError(f"{ref.label}: llmctl does not ask Mistral for log-probabilities; "
                             "gguf, hf and openai models give them")
        return args

    def constrains_json(self, ref: ModelRef) -> bool:
        return True

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        args = self._arguments(ref, request)
        client = self.client()
        if request.stream:
            return self._stream(ref, request, args, on_text)
        response = self._call(ref, lambda: client.chat.complete(**args))
        if not response.choices:
            raise ProviderError(f"{ref.label}: the server returned no choices")
        choice = response.choices[0]
        text = _text(choice.message.content)
        usage = _usage(response.usage) or self.estimate_usage(ref, request, text)
        calls: list[Any] = []
        if request.tools:
            from llmctl.providers.mistral.parts import tool_calls_of

            calls = tool_calls_of(choice.message)
        return Completion(text, usage, _finish(choice.finish_reason), response.model, tool_calls=calls)

    def _stream(self, ref: ModelRef, request: CompletionRequest, args: dict[str, Any],
                on_text: TextSink | None) -> Completion:
        client = self.client()
        stream = self._call(ref, lambda: client.chat.stream(**args))
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        model: str | None = None
        for event in self._events(ref, stream):
            chunk = event.data
            model = model or chunk.model
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices:
                if choice.index:
                    continue
                delta = _text(choice.delta.content)
                if delta:
                    parts.append(delta)
                    if on_text is not None:
                        on_text(delta)
                if choice.finish_reason:
                    finish = _finish(choice.finish_reason)
        return self.stream_result(ref, request, parts, finish, usage, model)

    def _events(self, ref: ModelRef, stream: Any) -> Iterator[Any]:
        import httpx2
        from mistralai.client import errors

        try:
            with stream:
                yield from stream
        except httpx2.TransportError as exc:
            raise self.transport_error(ref, exc, streaming=True) from exc
        except errors.MistralError as exc:
            raise ProviderError(f"{ref.label}: the stream carried an event that is not valid: "
                                f"{' '.join(str(exc).split())[:200]}") from exc

    # ------------------------------------------------------------------ embed
    def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
        client = self.client()

        def send(texts: list[str]) -> Embeddings:
            args: dict[str, Any] = {"model": ref.model, "inputs": texts}
            if request.dimensions is not None:
                args["output_dimension"] = request.dimensions
            def create() -> Any:
                from mistralai.client import errors

                try:
                    return client.embeddings.create(**args)
                except errors.ResponseValidationError as exc:
                    # OpenAI-compatible servers leave out Mistral's `id`; the vectors are all there.
                    found = _embeddings_from_body(exc.body, len(texts))
                    if found is None:
                        raise
                    return found

            response = self._call(ref, create)
            if isinstance(response, Embeddings):
                return response
            rows = sorted(response.data, key=lambda row: row.index or 0)
            vectors = [list(row.embedding or []) for row in rows]
            usage = _usage(response.usage)
            if usage is None:
                usage = self.estimate_input_usage(ref, texts)
            return Embeddings(vectors, usage, response.model)

        return self.embed_batches(ref, request, send)

    # ------------------------------------------------------------------ errors
    def _call(self, ref: ModelRef, fn: Any) -> Any:
        import httpx2
        from mistralai.client import errors

        try:
            return fn()
        except errors.ResponseValidationError as exc:
            raw = exc.raw_response
            raise not_json_error(ref, raw.status_code, self.redacted(exc.body),
                                 raw.headers.get("content-type")) from None
        except errors.MistralError as exc:
            if 200 <= exc.status_code < 300:
                raise not_json_error(ref, exc.status_code, self.redacted(exc.body),
                                     exc.headers.get("content-type")) from None
            raise self.status_failure(ref, exc.status_code, exc.body, exc.raw_response) from None
        except errors.NoResponseError as exc:
            raise NetworkError(f"{ref.label}: no response from {self.server_url} "
                               f"({self.redacted(str(exc))})") from None
        except httpx2.TransportError as exc:
            raise self.transport_error(ref, exc) from None


def _embeddings_from_body(body: str, expected: int) -> Embeddings | None:
    """Vectors from an OpenAI-shaped embeddings body, or None when the body is not one."""
    try:
        data = json.loads(body)
        rows = sorted(data["data"], key=lambda row: row.get("index", 0))
        vectors = [[float(x) for x in row["embedding"]] for row in rows]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if len(vectors) != expected:
        return None
    prompt = (data.get("usage") or {}).get("prompt_tokens")
    if not isinstance(prompt, int):
        return None
    return Embeddings(vectors, Usage(prompt), data.get("model"))


def _text(content: Any) -> str:
    """Message content: a string, or a list of chunks of which the text ones count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(getattr(part, "text", "") or "" for part in content)


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    return str(getattr(reason, "value", reason))


def _usage(raw: Any) -> Usage | None:
    if raw is None or getattr(raw, "prompt_tokens", None) is None:
        return None
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if cached is None:
        cached = getattr(raw, "num_cached_tokens", None)
    return Usage(int(raw.prompt_tokens), int(raw.completion_tokens or 0), int(cached or 0))
