"""The `mistral` provider: Mistral's API (or a compatible server), spoken to through its REST API with llmctl's own
HTTP client (providers/rest.py), as the openai provider is: the mistralai SDK's import cost a one-shot call as
much as the rest of it, and its types checked bodies llmctl reads itself (and refused an OpenAI-compatible
server's embeddings for a missing `id`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import ProviderError, UsageError
from llmctl.core.usage import Usage
from llmctl.providers.api_errors import not_json_error, provider_message
from llmctl.providers.base import (
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ModelRef,
    TextSink,
    Tokenizer,
)
from llmctl.providers.hosted import EmbedLimits
from llmctl.providers.rest import RestProvider

if TYPE_CHECKING:
    from llmctl.providers.mistral.batch import MistralBatchFormat


class MistralProvider(RestProvider):
    kind = "mistral"
    default_key_env = "MISTRAL_API_KEY"
    default_base_url = "https://api.mistral.ai"
    # The API rejects temperatures above 1.5; its docs recommend 0.0 to 0.7.
    temperature_range = (0.0, 1.5)
    tool_calling = True
    # mistral-embed: 8192 tokens per input and 16384 tokens per request ("Too many tokens overall,
    # split into more batches"); 512 inputs keeps each request well inside what the API takes.
    embed_limits = EmbedLimits(max_inputs=512, max_request_tokens=16_384, max_input_tokens=8192)

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

    def url(self, path: str) -> str:
        # Paths start at /v1; an OpenAI-style base URL ending in /v1 is taken too.
        root = self.base_url.rstrip("/")
        return (root[: -len("/v1")] if root.endswith("/v1") else root) + path

    # ------------------------------------------------------------------ complete
    def _arguments(self, ref: ModelRef, request: CompletionRequest) -> dict[str, Any]:
        self.check_request(ref, request)
        from llmctl.providers.mistral.parts import chat_messages

        args: dict[str, Any] = {"model": ref.model, "messages": chat_messages(request), "stream": request.stream}
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
        body = self._arguments(ref, request)
        if request.stream:
            return self._stream(ref, request, body, on_text)
        answer = self.post_json(ref, "/v1/chat/completions", body)
        choices = answer.get("choices")
        if not choices:
            raise ProviderError(f"{ref.label}: the server returned no choices")
        choice = choices[0] if isinstance(choices, list) else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(choice, dict) or not isinstance(message, dict):
            raise not_json_error(ref, 200, json.dumps(answer), None)
        text = _text(message.get("content"))
        usage = _usage(answer.get("usage")) or self.estimate_usage(ref, request, text)
        calls: list[Any] = []
        if request.tools:
            from llmctl.providers.mistral.parts import tool_calls_of

            calls = tool_calls_of(message)
        return Completion(text, usage, choice.get("finish_reason"), _model(answer), tool_calls=calls)

    def _stream(self, ref: ModelRef, request: CompletionRequest, body: dict[str, Any],
                on_text: TextSink | None) -> Completion:
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        model: str | None = None
        for chunk in self.post_events(ref, "/v1/chat/completions", body):
            if chunk.get("error") or chunk.get("object") == "error":
                raise ProviderError(f"{ref.label}: the stream failed: {self.redacted(provider_message(chunk))}")
            model = model or _model(chunk)
            if chunk.get("usage"):
                usage = _usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict) or choice.get("index"):
                    continue
                delta = _text((choice.get("delta") or {}).get("content"))
                if delta:
                    parts.append(delta)
                    if on_text is not None:
                        on_text(delta)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        return self.stream_result(ref, request, parts, finish, usage, model)

    # ------------------------------------------------------------------ embed
    def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
        def send(texts: list[str]) -> Embeddings:
            body: dict[str, Any] = {"model": ref.model, "input": texts}
            if request.dimensions is not None:
                body["output_dimension"] = request.dimensions
            answer = self.post_json(ref, "/v1/embeddings", body)
            try:
                rows = sorted(answer["data"], key=lambda row: row.get("index") or 0)
                vectors = [list(row["embedding"]) for row in rows]
            except (KeyError, TypeError, AttributeError):
                raise not_json_error(ref, 200, json.dumps(answer), None) from None
            usage = _usage(answer.get("usage"))
            if usage is None:
                usage = self.estimate_input_usage(ref, texts)
            return Embeddings(vectors, usage, _model(answer))

        return self.embed_batches(ref, request, send)


def _model(answer: dict[str, Any]) -> str | None:
    model = answer.get("model")
    return model if isinstance(model, str) else None


def _text(content: Any) -> str:
    """Message content: a string, or a list of chunks of which the text ones count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content if isinstance(part, dict) and part.get("type") == "text")


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict) or raw.get("prompt_tokens") is None:
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = raw.get("num_cached_tokens")
    return Usage(int(raw["prompt_tokens"]), int(raw.get("completion_tokens") or 0), int(cached or 0))
