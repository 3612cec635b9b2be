"""Usage a server did not report, counted here: with the served model's tokenizer when known, else o200k.

A profile may name the tokenizer of the model its server runs (`tokenizer = "hf:PATH"` or
`"gguf:PATH"`, or a local alias such as `"gguf:smollm2"`); the prompt is then counted as that
model's chat template lays it out. Without one, OpenAI's o200k_base counts the texts, with the
framing OpenAI documents for its chat models (3 tokens per message, 3 more to start the reply).
Every estimate names what counted it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmctl.core.errors import ConfigError, LlmctlError
from llmctl.core.usage import Usage
from llmctl.providers.base import ModelRef

#: OpenAI's documented chat framing: every message costs 3 tokens beyond its texts, the reply 3.
TOKENS_PER_MESSAGE = 3
REPLY_PRIMER = 3
FALLBACK_ENCODING = "o200k_base"
TOKENIZER_KINDS = ("hf", "gguf")


@dataclass
class Estimator:
    """Counts text and chat prompts for one served model, and says which tokenizer it used."""

    name: str
    count: Callable[[str], int]
    count_chat: Callable[[list[dict[str, str]]], int | None]

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        templated = self.count_chat(messages)
        if templated is not None:
            return templated
        framed = sum(TOKENS_PER_MESSAGE + self.count(m["role"]) + self.count(m["content"]) for m in messages)
        return framed + REPLY_PRIMER

    def completion_usage(self, messages: list[dict[str, str]], text: str) -> Usage:
        return Usage(self.prompt_tokens(messages), self.count(text), estimated=True, tokenizer=self.name)

    def input_usage(self, texts: list[str]) -> Usage:
        return Usage(sum(self.count(t) for t in texts), estimated=True, tokenizer=self.name)


def _where(settings: dict[str, Any]) -> str:
    profile = settings.get("profile")
    return f"the profile {profile!r}" if profile else "the provider settings"


def named_tokenizer_ref(settings: dict[str, Any]) -> ModelRef | None:
    """The model whose tokenizer a profile names, resolved (not loaded); exit 3 when it is not usable."""
    value = settings.get("tokenizer")
    if value is None:
        return None
    where = _where(settings)
    kind = value.partition(":")[0] if isinstance(value, str) else ""
    if kind not in TOKENIZER_KINDS or not value.partition(":")[2]:
        raise ConfigError(f"{where} names tokenizer {value!r}, which llmctl does not know; "
                          "name one as hf:PATH or gguf:PATH (or a local alias such as gguf:smollm2)")
    from llmctl.providers.registry import resolve_model

    try:
        ref = resolve_model(value)
    except LlmctlError as exc:
        raise ConfigError(f"{where} names tokenizer {value!r}, which cannot be found: {exc.message}") from None
    if ref.kind not in TOKENIZER_KINDS:
        raise ConfigError(f"{where} names tokenizer {value!r}, which is not an hf or gguf model")
    if kind == "gguf":
        from pathlib import Path

        if not Path(ref.model).is_file():
            raise ConfigError(f"{where} names tokenizer {value!r}, but {ref.model} is not a file")
    return ref


def estimator_for(ref: ModelRef, own: Callable[[], Any], *, custom_endpoint: bool,
                  chat_framing: bool) -> Estimator:
    """The counter for what `ref`'s server did not report.

    `own` gives the provider's tokenizer for its own models; `chat_framing` says whether OpenAI's
    framing applies to them (it does to OpenAI's, not to Mistral's).
    """
    named = named_tokenizer_ref(ref.settings)
    if named is not None:
        from llmctl.providers.registry import get_provider

        local = get_provider(named)
        tok = local.tokenizer(named)
        return Estimator(str(ref.settings["tokenizer"]), tok.count,
                         lambda messages: local.count_chat(named, messages))
    if custom_endpoint:
        from llmctl.providers.openai.tokens import tokenizer_for_encoding

        tok = tokenizer_for_encoding(FALLBACK_ENCODING)
        return Estimator(tok.name, tok.count, lambda messages: None)
    tok = own()
    if chat_framing:
        return Estimator(tok.name, tok.count, lambda messages: None)
    # No framing is known for this provider: the texts alone, which undercounts by a few tokens.
    return Estimator(f"{tok.name} (message texts only)", tok.count,
                     lambda messages: sum(tok.count(m["content"]) for m in messages))
