"""The `openai` provider: OpenAI's API and any OpenAI-compatible server (profiles, --base-url).

Spoken to through its REST API with llmctl's own HTTP client (providers/rest.py), not the openai SDK: chat,
legacy completions and embeddings are plain JSON POSTs (and server-sent events), files and batches go through
run/batch_api.py on the same client, so the SDK would add only its import (hundreds of milliseconds on every
one-shot call) and a second layer of types over bodies llmctl reads itself.
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
    TokenLogprob,
)
from llmctl.providers.hosted import EmbedLimits
from llmctl.providers.rest import RestProvider

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


class OpenAIProvider(RestProvider):
    kind = "openai"
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

    # ------------------------------------------------------------------ complete
    def _sampling(self, ref: ModelRef, request: CompletionRequest, *, chat: bool) -> dict[str, Any]:
        """The request body's model and sampling fields, or the exit-2 error for what the API refuses."""
        self.check_request(ref, request)
        if len(request.stop) > MAX_STOP and not self.custom_endpoint:
            raise UsageError(f"OpenAI accepts at most {MAX_STOP} --stop sequences, not {len(request.stop)}")
        args: dict[str, Any] = {"model": ref.model}
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
            args[name] = value  # fields of the server's own (vLLM, llama.cpp), beside OpenAI's
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
        return ref.facts.endpoint != "completions"

    def accepts_attachment(self, ref: ModelRef, mime: str) -> bool:
        # An OpenAI-compatible server's models are not in our configs: the server decides.
        return mime in ref.attachment_types or (self.custom_endpoint and not ref.attachment_types)

    def gives_logprobs(self, ref: ModelRef) -> bool:
        return True

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        legacy = ref.facts.endpoint == "completions"
        body = self._sampling(ref, request, chat=not legacy)
        if legacy:
            if request.attachments:
                raise UsageError(f"{ref.label} is a completions-endpoint model; it takes no attachments")
            body["prompt"] = _legacy_prompt(request)
        else:
            from llmctl.providers.openai.parts import chat_messages

            body["messages"] = chat_messages(ref, request)
        path = "/completions" if legacy else "/chat/completions"
        if request.stream:
            return self._stream(ref, request, path, body, legacy, on_text)
        answer = self.post_json(ref, path, body)
        choices = answer.get("choices")
        if not choices:
            raise ProviderError(f"{ref.label}: the server returned no choices")
        choice = choices[0] if isinstance(choices, list) else None
        message = choice.get("message") or {} if isinstance(choice, dict) else None
        if not isinstance(choice, dict) or not isinstance(message, dict):
            raise _shape_error(ref, answer)
        text = (choice.get("text") if legacy else message.get("content")) or ""
        usage = _usage(answer.get("usage")) or self.estimate_usage(ref, request, text)
        logprobs = _logprobs(choice) if request.logprobs is not None and not legacy else None
        calls: list[Any] = []
        if request.tools and not legacy:
            from llmctl.providers.openai.parts import tool_calls_of

            calls = tool_calls_of(message)
        return Completion(str(text), usage, choice.get("finish_reason"), _model(answer), logprobs, tool_calls=calls)

    def _stream(self, ref: ModelRef, request: CompletionRequest, path: str, body: dict[str, Any],
                legacy: bool, on_text: TextSink | None) -> Completion:
        body = {**body, "stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        model: str | None = None
        for chunk in self.post_events(ref, path, body):
            if chunk.get("error"):
                # An error after the answer began comes as an event, not a status.
                raise ProviderError(f"{ref.label}: the stream failed: {self.redacted(provider_message(chunk))}")
            model = model or _model(chunk)
            if chunk.get("usage"):
                usage = _usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict) or choice.get("index"):
                    continue
                delta = choice.get("text") if legacy else (choice.get("delta") or {}).get("content")
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
            body: dict[str, Any] = {"model": ref.model, "input": texts, "encoding_format": "float"}
            if request.dimensions is not None:
                body["dimensions"] = request.dimensions
            answer = self.post_json(ref, "/embeddings", body)
            try:
                rows = sorted(answer["data"], key=lambda row: row["index"])
                vectors = [list(row["embedding"]) for row in rows]
            except (KeyError, TypeError):
                raise _shape_error(ref, answer) from None
            usage = _usage(answer.get("usage"))
            if usage is None:
                usage = self.estimate_input_usage(ref, texts)
            return Embeddings(vectors, usage, _model(answer))

        return self.embed_batches(ref, request, send)


def _shape_error(ref: ModelRef, answer: dict[str, Any]) -> ProviderError:
    return not_json_error(ref, 200, json.dumps(answer), None)


def _model(answer: dict[str, Any]) -> str | None:
    model = answer.get("model")
    return model if isinstance(model, str) else None


def _legacy_prompt(request: CompletionRequest) -> str:
    """The legacy endpoint takes one string: the system text, earlier turns, then the prompt."""
    parts = [request.system] if request.system else []
    parts.extend(str(turn.get("content") or "") for turn in request.history)
    parts.append(request.prompt)
    return "\n\n".join(parts)


def _logprobs(choice: dict[str, Any]) -> list[TokenLogprob]:
    """The chat endpoint's `logprobs.content`: one entry per token with its top alternatives."""
    content = (choice.get("logprobs") or {}).get("content") or []
    return [TokenLogprob(item["token"], float(item["logprob"]),
                         tuple((alt["token"], float(alt["logprob"])) for alt in item.get("top_logprobs") or []))
            for item in content]


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict) or raw.get("prompt_tokens") is None:
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(int(raw["prompt_tokens"]), int(raw.get("completion_tokens") or 0), int(cached or 0))
