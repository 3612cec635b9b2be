"""The `openai` provider: OpenAI's API and any OpenAI-compatible server (profiles, --base-url)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import ProviderError, UsageError
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
    TokenLogprob,
)
from llmctl.providers.hosted import PLACEHOLDER_KEY, EmbedLimits, HostedProvider

if TYPE_CHECKING:
    from llmctl.providers.openai.batch import OpenAIBatchFormat

#: OpenAI's documented stop-sequence limit.
MAX_STOP = 4


#: OpenAI model families by name prefix, for models newer than configs/models.toml.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-5", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("text-embedding-", "cl100k_base"),
)


class OpenAIProvider(HostedProvider):
    kind = "openai"
    extra = "openai"
    default_key_env = "OPENAI_API_KEY"
    default_base_url = "https://api.openai.com/v1"
    chat_framing = True
    tool_calling = True
    temperature_range = (0.0, 2.0)
    # 2048 inputs and 300k tokens per request, 8191 tokens per input (OpenAI's embeddings guide).
    embed_limits = EmbedLimits(max_inputs=2048, max_request_tokens=300_000, max_input_tokens=8191)

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        return self.standalone_tokenizer(ref)

    # ------------------------------------------------------------------ what it declares
    @classmethod
    def unlisted_spec(cls, provider: str, model: str) -> dict[str, Any] | None:
        """A model newer than configs/models.toml, known by its family's name prefix (OpenAI's own API
        only: a profile's server names its models as it likes)."""
        if provider != cls.kind:
            return None
        for prefix, encoding in FAMILIES:
            if model.startswith(prefix):
                caps = ["embed", "tokenize"] if prefix == "text-embedding-" else ["complete", "tokenize"]
                return {"encoding": encoding, "capabilities": caps, "family": prefix}
        return None

    @classmethod
    def price_sources(cls) -> dict[str, str]:
        return {"openai": "", "text-completion-openai": ""}

    def count_request(self, ref: ModelRef, request: CompletionRequest) -> int:
        from llmctl.providers.openai.tokens import framed_chat_tokens

        return framed_chat_tokens(self.tokenizer(ref).count, request.messages())

    def batch_format(self) -> OpenAIBatchFormat:
        from llmctl.providers.openai.batch import OpenAIBatchFormat

        return OpenAIBatchFormat()

    @classmethod
    def standalone_tokenizer(cls, ref: ModelRef) -> Tokenizer:
        from llmctl.providers.openai.tokens import openai_tokenizer

        return openai_tokenizer(ref)

    # ------------------------------------------------------------------ client
    def _build_client(self) -> Any:
        from llmctl.core.http import client_options, make_client, make_timeout
        from llmctl.providers.registry import require_import

        openai = require_import("openai", "the openai SDK", "openai")
        creds = self.credentials()
        settings = client_options(dict(self.options))
        http = make_client(secrets=self.secrets(), key_header=self.key_header(creds), **settings)
        return openai.OpenAI(
            # The SDK insists on a key; the placeholder never leaves (the client's key guard drops it).
            api_key=creds.key or PLACEHOLDER_KEY,
            base_url=self.base_url,
            http_client=http,
            max_retries=0,  # llmctl.core.http retries; one policy, not two
            timeout=make_timeout(settings.get("timeout")),
            organization=None,
            project=None,
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # ------------------------------------------------------------------ complete
    def _sampling(self, ref: ModelRef, request: CompletionRequest, *, chat: bool) -> dict[str, Any]:
        self.check_request(ref, request)
        if len(request.stop) > MAX_STOP and not self.custom_endpoint:
            raise UsageError(f"OpenAI accepts at most {MAX_STOP} --stop sequences, not {len(request.stop)}")
        args: dict[str, Any] = {"model": ref.model}
        extra: dict[str, Any] = {}
        if request.max_tokens is not None:
            # Hosted chat models take max_completion_tokens (reasoning models refuse max_tokens);
            # OpenAI-compatible servers and the legacy endpoint know max_tokens.
            name = "max_completion_tokens" if chat and not self.custom_endpoint else "max_tokens"
            args[name] = request.max_tokens
        if request.temperature is not None:
            args["temperature"] = request.temperature
        if request.top_p is not None:
            args["top_p"] = request.top_p
        if request.stop:
            args["stop"] = list(request.stop)
        if request.seed is not None:
            args["seed"] = request.seed
        for name, value in (("top_k", request.top_k), ("repeat_penalty", request.repeat_penalty)):
            if value is None:
                continue
            if not self.custom_endpoint:
                flag = name.replace("_", "-")
                raise UsageError(f"--{flag} is not supported by the OpenAI API ({ref.label}); "
                                 "it works with OpenAI-compatible servers (a profile or --base-url)")
            extra[name] = value
        if extra:
            args["extra_body"] = extra
        if request.json_schema is not None and chat:
            from llmctl.core.schemas import strict_compatible

            # Strict mode refuses a schema with optional properties or open objects; such a schema
            # is still sent, unenforced, and the answer validated against it all the same.
            args["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": request.json_schema, "strict": strict_compatible(request.json_schema)}}
        if request.tools:
            from llmctl.providers.openai.parts import tools_param

            if not chat:
                raise UsageError(f"{ref.label} is a completions-endpoint model; tools need a chat model")
            args["tools"] = tools_param(request.tools)
        if request.logprobs is not None:
            if not 0 <= request.logprobs <= 20:
                raise UsageError(f"OpenAI gives 0 to 20 alternatives per token, not {request.logprobs}")
            if chat:
                args["logprobs"] = True
                args["top_logprobs"] = request.logprobs
            else:
                args["logprobs"] = request.logprobs
        return args

    def constrains_json(self, ref: ModelRef) -> bool:
        return ref.facts.endpoint != "completions"

    def supports_tools(self, ref: ModelRef) -> bool:
        return ref.spec.get("endpoint") != "completions"

    def accepts_attachment(self, ref: ModelRef, mime: str) -> bool:
        # An OpenAI-compatible server's models are not in our configs: the server decides.
        return mime in ref.attachment_types or (self.custom_endpoint and not ref.attachment_types)

    def gives_logprobs(self, ref: ModelRef) -> bool:
        return True

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        legacy = ref.facts.endpoint == "completions"
        args = self._sampling(ref, request, chat=not legacy)
        if legacy:
            if request.attachments:
                raise UsageError(f"{ref.label} is a completions-endpoint model; it takes no attachments")
            args["prompt"] = _legacy_prompt(request)
        else:
            from llmctl.providers.openai.parts import chat_messages

            # The SDK walks every message against its TypedDicts before sending (0.3 ms each: 30 ms for a
            # 50-turn conversation); ours are already in wire form, so they go in as the body's own field.
            args["messages"] = []
            args["extra_body"] = {**args.get("extra_body", {}), "messages": chat_messages(ref, request)}
        client = self.client()
        endpoint = client.completions if legacy else client.chat.completions
        if request.stream:
            return self._stream(ref, request, endpoint, args, legacy, on_text)
        response = self._call(ref, lambda: endpoint.create(**args))
        _check_object(ref, response, self.redacted)
        if not response.choices:
            raise ProviderError(f"{ref.label}: the server returned no choices")
        choice = response.choices[0]
        text = (choice.text if legacy else choice.message.content) or ""
        usage = _usage(response.usage) or self.estimate_usage(ref, request, text)
        logprobs = _logprobs(choice) if request.logprobs is not None and not legacy else None
        calls: list[Any] = []
        if request.tools and not legacy:
            from llmctl.providers.openai.parts import tool_calls_of

            calls = tool_calls_of(choice.message)
        return Completion(text, usage, choice.finish_reason, getattr(response, "model", None), logprobs,
                          tool_calls=calls)

    def _stream(self, ref: ModelRef, request: CompletionRequest, endpoint: Any, args: dict[str, Any],
                legacy: bool, on_text: TextSink | None) -> Completion:
        args = {**args, "stream": True, "stream_options": {"include_usage": True}}
        stream = self._call(ref, lambda: endpoint.create(**args))
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        model: str | None = None
        for chunk in self._chunks(ref, stream):
            model = model or getattr(chunk, "model", None)
            if getattr(chunk, "usage", None):
                usage = _usage(chunk.usage)
            for choice in chunk.choices or []:
                if choice.index:
                    continue
                delta = choice.text if legacy else (choice.delta.content if choice.delta else None)
                if delta:
                    parts.append(delta)
                    if on_text is not None:
                        on_text(delta)
                if choice.finish_reason:
                    finish = choice.finish_reason
        return self.stream_result(ref, request, parts, finish, usage, model)

    def _chunks(self, ref: ModelRef, stream: Any) -> Iterator[Any]:
        import httpx2

        import openai

        try:
            with stream:
                yield from stream
        except httpx2.TransportError as exc:
            raise self.transport_error(ref, exc, streaming=True) from exc
        except openai.APIConnectionError as exc:
            raise self.transport_error(ref, exc.__cause__ or exc, streaming=True) from exc
        except openai.APIError as exc:
            raise ProviderError(f"{ref.label}: the stream failed: {exc.message}") from exc
        except ValueError as exc:
            raise ProviderError(f"{ref.label}: the stream carried an event that is not JSON ({exc})") from exc

    # ------------------------------------------------------------------ embed
    def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
        client = self.client()

        def send(texts: list[str]) -> Embeddings:
            args: dict[str, Any] = {"model": ref.model, "input": texts, "encoding_format": "float"}
            if request.dimensions is not None:
                args["dimensions"] = request.dimensions
            response = self._call(ref, lambda: client.embeddings.create(**args))
            _check_object(ref, response, self.redacted)
            rows = sorted(response.data, key=lambda row: row.index)
            vectors = [list(row.embedding) for row in rows]
            usage = _usage(response.usage)
            if usage is None:
                usage = self.estimate_input_usage(ref, texts)
            return Embeddings(vectors, usage, getattr(response, "model", None))

        return self.embed_batches(ref, request, send)

    # ------------------------------------------------------------------ errors
    def _call(self, ref: ModelRef, fn: Any) -> Any:
        import httpx2

        import openai

        try:
            return fn()
        except openai.APIStatusError as exc:
            body = exc.body if exc.body is not None else exc.response.text
            raise self.status_failure(ref, exc.status_code, body, exc.response) from None
        except openai.APITimeoutError as exc:
            raise self.transport_error(ref, exc.__cause__ or exc) from None
        except openai.APIConnectionError as exc:
            raise self.transport_error(ref, exc.__cause__ or exc) from None
        except openai.APIResponseValidationError as exc:
            response = exc.response
            raise not_json_error(ref, response.status_code, self.redacted(response.text),
                                 response.headers.get("content-type")) from None
        except httpx2.TransportError as exc:
            raise self.transport_error(ref, exc) from None


def _check_object(ref: ModelRef, response: Any, redacted: Callable[[str], str]) -> None:
    """The SDK hands back a plain string when the body was not JSON; that is a failed call."""
    if isinstance(response, (str, bytes)):
        text = response if isinstance(response, str) else response.decode("utf-8", "replace")
        raise not_json_error(ref, 200, redacted(text), None)


def _legacy_prompt(request: CompletionRequest) -> str:
    """The legacy endpoint takes one string: the system text, earlier turns, then the prompt."""
    parts = [request.system] if request.system else []
    parts.extend(str(turn.get("content") or "") for turn in request.history)
    parts.append(request.prompt)
    return "\n\n".join(parts)


def _logprobs(choice: Any) -> list[TokenLogprob]:
    """The chat endpoint's `logprobs.content`: one entry per token with its top alternatives."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    return [TokenLogprob(item.token, float(item.logprob),
                         tuple((alt.token, float(alt.logprob)) for alt in item.top_logprobs or []))
            for item in content]


def _usage(raw: Any) -> Usage | None:
    if raw is None:
        return None
    prompt = getattr(raw, "prompt_tokens", None)
    if prompt is None:
        return None
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return Usage(int(prompt), int(getattr(raw, "completion_tokens", 0) or 0), int(cached or 0))
