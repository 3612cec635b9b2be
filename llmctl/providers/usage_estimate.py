"""Usage a server did not report, counted here: with the served model's tokenizer when known, else o200k.

A profile may name the tokenizer of the model its server runs (`tokenizer = "hf:PATH"` or
`"gguf:PATH"`, or a local alias such as `"gguf:smollm2"`: any backend whose models are local
paths); the prompt is then counted as that model's chat template lays it out. Without one,
OpenAI's o200k_base counts the texts, with the framing OpenAI documents for its chat models (kept
in llmctl.providers.openai.tokens: 3 tokens per message, 3 more to start the reply).
Every estimate names what counted it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmctl.core.config import BackendSettings
from llmctl.core.errors import ConfigError, LlmctlError
from llmctl.core.usage import Usage
from llmctl.providers.base import ModelRef


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
        from llmctl.providers.openai.tokens import framed_chat_tokens

        return framed_chat_tokens(self.count, messages)

    def completion_usage(self, messages: list[dict[str, str]], text: str) -> Usage:
        return Usage(self.prompt_tokens(messages), self.count(text), estimated=True, tokenizer=self.name)

    def input_usage(self, texts: list[str]) -> Usage:
        return Usage(sum(self.count(t) for t in texts), estimated=True, tokenizer=self.name)


def named_tokenizer_ref(settings: BackendSettings) -> ModelRef | None:
    """The model whose tokenizer a profile names, resolved (not loaded); exit 3 when it is not usable."""
    value = settings.tokenizer
    if value is None:
        return None
    where = settings.where()
    from llmctl.providers.registry import find_provider_class, resolve_model

    kind = value.partition(":")[0]
    try:
        cls = find_provider_class(kind) if kind.isidentifier() else None
    except LlmctlError:
        cls = None
    if cls is None or not cls.model_is_path or not value.partition(":")[2]:
        raise ConfigError(f"{where} names tokenizer {value!r}, which llmctl does not know; "
                          "name one as hf:PATH or gguf:PATH (or a local alias such as gguf:smollm2)")
    try:
        ref = resolve_model(value)
    except LlmctlError as exc:
        raise ConfigError(f"{where} names tokenizer {value!r}, which cannot be found: {exc.message}") from None
    resolved = find_provider_class(ref.kind)
    if resolved is None or not resolved.model_is_path:
        raise ConfigError(f"{where} names tokenizer {value!r}, which is not a local model")
    from pathlib import Path

    if not Path(ref.model).exists():
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
        return Estimator(str(ref.settings.tokenizer), tok.count,
                         lambda messages: local.count_chat(named, messages))
    if custom_endpoint:
        from llmctl.providers.openai.tokens import FALLBACK_ENCODING, tokenizer_for_encoding

        tok = tokenizer_for_encoding(FALLBACK_ENCODING)
        return Estimator(tok.name, tok.count, lambda messages: None)
    tok = own()
    if chat_framing:
        return Estimator(tok.name, tok.count, lambda messages: None)
    # No framing is known for this provider: the texts alone, which undercounts by a few tokens.
    return Estimator(f"{tok.name} (message texts only)", tok.count,
                     lambda messages: sum(tok.count(m["content"]) for m in messages))
