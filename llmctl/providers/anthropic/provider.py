"""The `anthropic` provider: Claude through Anthropic's Messages API (`/v1/messages`), spoken natively.

Counts come from `/v1/messages/count_tokens` (free) when ANTHROPIC_API_KEY is set; otherwise they are
estimated with o200k_base and say so. Structured output uses the API's JSON outputs (`output_config.format`).
"""

from __future__ import annotations

from typing import Any

from llmctl.core.errors import ProviderError
from llmctl.core.usage import Usage
from llmctl.providers.base import Completion, CompletionRequest, ModelRef, TextSink
from llmctl.providers.native import NativeProvider, finish_reason, int_field, refuse

#: The API version every request names (Anthropic's versioning header).
API_VERSION = "2023-06-01"
#: max_tokens is required; without --max-tokens a listed model gets its max output (configs/models.toml, what
#: --estimate and budgets reserve too). An unlisted model gets 4096, the smallest max output of any Claude model.
UNLISTED_MAX_TOKENS = 4096
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "refusal": "content_filter",
          "model_context_window_exceeded": "length"}


class AnthropicProvider(NativeProvider):
    kind = "anthropic"
    vendor = "Anthropic"
    default_key_env = "ANTHROPIC_API_KEY"
    default_base_url = "https://api.anthropic.com"
    key_header_name = "x-api-key"
    count_endpoint_name = "anthropic:/v1/messages/count_tokens"
    temperature_range = (0.0, 1.0)

    def fixed_headers(self) -> dict[str, str]:
        return {"anthropic-version": API_VERSION}

    def url(self, path: str) -> str:
        # An OpenAI-style base URL ending in /v1 is taken too.
        root = self.base_url.rstrip("/")
        return (root[: -len("/v1")] if root.endswith("/v1") else root) + path

    @classmethod
    def price_sources(cls) -> dict[str, str]:
        return {"anthropic": ""}

    @classmethod
    def unlisted_spec(cls, provider: str, model: str) -> dict[str, Any] | None:
        if model.startswith("claude-"):
            return {"capabilities": ["complete", "tokenize"], "family": "claude-"}
        return None

    def constrains_json(self, ref: ModelRef) -> bool:
        return True

    # ------------------------------------------------------------------ requests
    def _conversation(self, request: CompletionRequest) -> dict[str, Any]:
        system = [request.system] if request.system else []
        messages: list[dict[str, str]] = []
        for turn in request.history:
            if turn.get("role") == "system":
                system.append(turn["content"])  # the API takes the system text apart from the turns
            else:
                messages.append({"role": "assistant" if turn.get("role") == "assistant" else "user",
                                 "content": turn["content"]})
        messages.append({"role": "user", "content": request.prompt})
        found: dict[str, Any] = {"messages": messages}
        if system:
            found["system"] = "\n\n".join(system)
        return found

    def body(self, ref: ModelRef, request: CompletionRequest) -> dict[str, Any]:
        """The Messages API request for `request` (checked: nothing is sent that the API would refuse)."""
        self.check_request(ref, request)
        refuse(ref, self.vendor, "--seed", request.seed)
        refuse(ref, self.vendor, "--repeat-penalty", request.repeat_penalty)
        refuse(ref, self.vendor, "--logprobs", request.logprobs)
        max_tokens = request.max_tokens or ref.facts.max_output or UNLISTED_MAX_TOKENS
        body: dict[str, Any] = {"model": ref.model, "max_tokens": max_tokens, **self._conversation(request)}
        optional = {"temperature": request.temperature, "top_p": request.top_p, "top_k": request.top_k}
        body.update({k: v for k, v in optional.items() if v is not None})
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.json_schema is not None:
            body["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
        return body

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        body = self.body(ref, request)
        if request.stream:
            return self._stream(ref, request, {**body, "stream": True}, on_text)
        answer = self.post_json(ref, "/v1/messages", body)
        content = answer.get("content")
        if not isinstance(content, list):
            raise ProviderError(f"{ref.label}: the answer has no content")
        text = "".join(block.get("text", "") for block in content
                       if isinstance(block, dict) and block.get("type") == "text")
        usage = _usage(answer.get("usage")) or self.estimate_usage(ref, request, text)
        return Completion(text, usage, finish_reason(answer.get("stop_reason"), FINISH), answer.get("model"))

    def _stream(self, ref: ModelRef, request: CompletionRequest, body: dict[str, Any],
                on_text: TextSink | None) -> Completion:
        parts: list[str] = []
        raw_usage: dict[str, Any] = {}
        finish: str | None = None
        model: str | None = None
        for event in self.post_events(ref, "/v1/messages", body):
            kind = event.get("type")
            if kind == "message_start":
                message = event.get("message") or {}
                model = message.get("model")
                raw_usage.update(message.get("usage") or {})
            elif kind == "content_block_delta":
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    parts.append(delta["text"])
                    if on_text is not None:
                        on_text(delta["text"])
            elif kind == "message_delta":
                # Its usage counts are totals so far, and come last.
                raw_usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
                finish = finish_reason((event.get("delta") or {}).get("stop_reason"), FINISH) or finish
            elif kind == "error":
                error = event.get("error") or {}
                raise ProviderError(f"{ref.label}: the stream ended with an error: "
                                    f"{self.redacted(str(error.get('message') or error.get('type') or error))}")
        return self.stream_result(ref, request, parts, finish, _usage(raw_usage) if raw_usage else None, model)

    # ------------------------------------------------------------------ counts
    def count_messages(self, ref: ModelRef, request: CompletionRequest) -> int:
        body: dict[str, Any] = {"model": ref.model, **self._conversation(request)}
        if request.json_schema is not None:
            body["output_config"] = {"format": {"type": "json_schema", "schema": request.json_schema}}
        answer = self.post_json(ref, "/v1/messages/count_tokens", body, free=True)
        tokens = answer.get("input_tokens")
        if not isinstance(tokens, int):
            raise ProviderError(f"{ref.label}: the count endpoint answered without input_tokens")
        return tokens


def _usage(raw: Any) -> Usage | None:
    """Billed input is the uncached prompt plus what was read from and written to the prompt cache."""
    if not isinstance(raw, dict) or not isinstance(raw.get("input_tokens"), int):
        return None
    read = int_field(raw, "cache_read_input_tokens")
    written = int_field(raw, "cache_creation_input_tokens")
    return Usage(raw["input_tokens"] + read + written, int_field(raw, "output_tokens"), read)
