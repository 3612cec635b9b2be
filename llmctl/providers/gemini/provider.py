"""The `gemini` provider: Google's Gemini API (`models/{model}:generateContent`), spoken natively.

Counts come from `models/{model}:countTokens` (free) when GOOGLE_API_KEY or GEMINI_API_KEY is set; otherwise
they are estimated with o200k_base and say so. Structured output is `responseJsonSchema` with
`responseMimeType: application/json`.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from llmctl.core.errors import AuthError, LlmctlError, ProviderError, UsageError
from llmctl.core.usage import Usage
from llmctl.providers.api_errors import provider_message
from llmctl.providers.base import Completion, CompletionRequest, ModelRef, TextSink
from llmctl.providers.native import NativeProvider, finish_reason, int_field, refuse

#: The API's documented stop-sequence limit.
MAX_STOP = 5
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
          "IMAGE_SAFETY": "content_filter"}


class GeminiProvider(NativeProvider):
    kind = "gemini"
    vendor = "Gemini"
    default_key_env = "GEMINI_API_KEY"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"
    key_header_name = "x-goog-api-key"
    count_endpoint_name = "gemini:countTokens"
    temperature_range = (0.0, 2.0)

    @classmethod
    def own_key_env(cls) -> str:
        # Google's SDK (google-genai) reads GOOGLE_API_KEY first, then GEMINI_API_KEY: so does llmctl.
        return "GOOGLE_API_KEY" if os.environ.get("GOOGLE_API_KEY", "").strip() else "GEMINI_API_KEY"

    @classmethod
    def price_sources(cls) -> dict[str, str]:
        return {"gemini": "gemini/"}

    @classmethod
    def unlisted_spec(cls, provider: str, model: str) -> dict[str, Any] | None:
        if model.startswith("gemini-"):
            return {"capabilities": ["complete", "tokenize"], "family": "gemini-"}
        return None

    def constrains_json(self, ref: ModelRef) -> bool:
        return True

    def _path(self, ref: ModelRef, method: str) -> str:
        return f"/models/{quote(ref.model, safe='-._')}:{method}"

    # ------------------------------------------------------------------ requests
    def _conversation(self, request: CompletionRequest) -> dict[str, Any]:
        system = [request.system] if request.system else []
        contents: list[dict[str, Any]] = []
        for turn in request.history:
            if turn.get("role") == "system":
                system.append(turn["content"])
            else:
                role = "model" if turn.get("role") == "assistant" else "user"
                contents.append({"role": role, "parts": [{"text": turn["content"]}]})
        contents.append({"role": "user", "parts": [{"text": request.prompt}]})
        found: dict[str, Any] = {"contents": contents}
        if system:
            found["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        return found

    def body(self, ref: ModelRef, request: CompletionRequest) -> dict[str, Any]:
        """The generateContent request for `request` (checked: nothing is sent that the API would refuse)."""
        self.check_request(ref, request)
        refuse(ref, self.vendor, "--repeat-penalty", request.repeat_penalty)
        refuse(ref, self.vendor, "--logprobs", request.logprobs)
        if len(request.stop) > MAX_STOP and not self.custom_endpoint:
            raise UsageError(f"Gemini accepts at most {MAX_STOP} --stop sequences, not {len(request.stop)}")
        config = {"temperature": request.temperature, "topP": request.top_p, "topK": request.top_k,
                  "maxOutputTokens": request.max_tokens, "seed": request.seed}
        generation: dict[str, Any] = {k: v for k, v in config.items() if v is not None}
        if request.stop:
            generation["stopSequences"] = list(request.stop)
        if request.json_schema is not None:
            generation["responseMimeType"] = "application/json"
            generation["responseJsonSchema"] = request.json_schema
        body = self._conversation(request)
        if generation:
            body["generationConfig"] = generation
        return body

    def complete(self, ref: ModelRef, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        body = self.body(ref, request)
        if request.stream:
            return self._stream(ref, request, body, on_text)
        answer = self.post_json(ref, self._path(ref, "generateContent"), body)
        text, finish = _candidate(ref, answer)
        usage = _usage(answer.get("usageMetadata")) or self.estimate_usage(ref, request, text)
        return Completion(text, usage, finish, answer.get("modelVersion"))

    def _stream(self, ref: ModelRef, request: CompletionRequest, body: dict[str, Any],
                on_text: TextSink | None) -> Completion:
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        model: str | None = None
        for event in self.post_events(ref, self._path(ref, "streamGenerateContent") + "?alt=sse", body):
            model = model or event.get("modelVersion")
            # Each chunk's usageMetadata is the total so far; the last one counts.
            usage = _usage(event.get("usageMetadata")) or usage
            if not event.get("candidates") and not (event.get("promptFeedback") or {}).get("blockReason"):
                continue
            delta, reason = _candidate(ref, event)
            if delta:
                parts.append(delta)
                if on_text is not None:
                    on_text(delta)
            finish = reason or finish
        return self.stream_result(ref, request, parts, finish, usage, model)

    def status_error(self, ref: ModelRef, status: int, body: Any, attempts: int | None = None,
                     refused_wait: float | None = None) -> LlmctlError:
        # A key that is not valid comes back as 400 INVALID_ARGUMENT with the reason API_KEY_INVALID: exit 3.
        if status == 400 and "API_KEY_INVALID" in _reasons(body):
            return AuthError(f"{ref.label}: authentication failed (400, API_KEY_INVALID): "
                             f"{self.redacted(provider_message(body))}", hint=self._key_hint())
        return super().status_error(ref, status, body, attempts, refused_wait)

    # ------------------------------------------------------------------ counts
    def count_messages(self, ref: ModelRef, request: CompletionRequest) -> int:
        conversation = self._conversation(request)
        if "systemInstruction" in conversation or request.json_schema is not None:
            # The whole request is counted only in this form (the system text included).
            inner = {"model": f"models/{ref.model}", **conversation}
            body: dict[str, Any] = {"generateContentRequest": inner}
        else:
            body = conversation
        answer = self.post_json(ref, self._path(ref, "countTokens"), body, free=True)
        tokens = answer.get("totalTokens")
        if not isinstance(tokens, int):
            raise ProviderError(f"{ref.label}: countTokens answered without totalTokens")
        return tokens


def _candidate(ref: ModelRef, answer: dict[str, Any]) -> tuple[str, str | None]:
    """The first candidate's text (thought summaries left out) and finish reason; a blocked prompt is exit 2."""
    candidates = answer.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        blocked = (answer.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise UsageError(f"{ref.label}: Gemini refused the prompt ({blocked})")
        raise ProviderError(f"{ref.label}: the answer has no candidates")
    first = candidates[0] if isinstance(candidates[0], dict) else {}
    parts = (first.get("content") or {}).get("parts") or []
    text = "".join(part.get("text", "") for part in parts
                   if isinstance(part, dict) and not part.get("thought") and isinstance(part.get("text"), str))
    return text, finish_reason(first.get("finishReason"), FINISH)


def _reasons(body: Any) -> list[str]:
    """The `reason` of each ErrorInfo in a Google error body."""
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [str(d.get("reason")) for d in details or [] if isinstance(d, dict) and d.get("reason")]


def _usage(raw: Any) -> Usage | None:
    """Thinking tokens are billed as output; the prompt count includes what came from the cache."""
    if not isinstance(raw, dict) or not isinstance(raw.get("promptTokenCount"), int):
        return None
    output = int_field(raw, "candidatesTokenCount") + int_field(raw, "thoughtsTokenCount")
    return Usage(raw["promptTokenCount"], output, int_field(raw, "cachedContentTokenCount"))
