"""Default settings of a model for a request: the user's flags, then its alias's, then the model's own."""

from __future__ import annotations

import dataclasses
from typing import Any

from llmctl.providers.base import CompletionRequest, ModelRef, Provider

#: Request fields a model's settings may give a default for (typed in options.ModelSettings).
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "repeat_penalty", "max_tokens")


def alias_settings(ref: ModelRef) -> dict[str, Any]:
    """What a model's own table (`[models.PROVIDER."NAME"]`) sets: its system prompt and sampling defaults."""
    facts = ref.facts
    found: dict[str, Any] = {name: getattr(facts, name) for name in SAMPLING_FIELDS
                             if getattr(facts, name) is not None}
    if facts.system:
        found["system"] = facts.system
    return found


def model_defaults(ref: ModelRef, provider: Provider) -> dict[str, Any]:
    """The sampling defaults in force for a model: its alias's settings over what the model declares."""
    return {**provider.generation_defaults(ref), **alias_settings(ref)}


def with_model_defaults(request: CompletionRequest, ref: ModelRef, provider: Provider) -> CompletionRequest:
    """The request with every field the user left unset filled from the model's defaults."""
    defaults = model_defaults(ref, provider)
    unset = {name: value for name, value in defaults.items() if getattr(request, name) is None}
    return dataclasses.replace(request, **unset)
