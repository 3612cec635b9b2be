"""Default settings of a model for a request: the user's flags, then its alias's, then the model's own."""

from __future__ import annotations

import dataclasses
from typing import Any

from llmctl.providers.base import CompletionRequest, ModelRef, Provider

#: Request fields a model's settings may give a default for, and the type each must have.
SAMPLING_FIELDS: dict[str, type | tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "top_k": int, "repeat_penalty": (int, float),
    "max_tokens": int,
}


def alias_settings(ref: ModelRef) -> dict[str, Any]:
    """What a model's own table (`[models.PROVIDER."NAME"]`) sets: its system prompt and sampling defaults."""
    found: dict[str, Any] = {}
    for name, kind in SAMPLING_FIELDS.items():
        value = ref.spec.get(name)
        if isinstance(value, kind) and not isinstance(value, bool):
            found[name] = value
    system = ref.spec.get("system")
    if isinstance(system, str) and system:
        found["system"] = system
    return found


def model_defaults(ref: ModelRef, provider: Provider) -> dict[str, Any]:
    """The sampling defaults in force for a model: its alias's settings over what the model declares."""
    return {**provider.generation_defaults(ref), **alias_settings(ref)}


def with_model_defaults(request: CompletionRequest, ref: ModelRef, provider: Provider) -> CompletionRequest:
    """The request with every field the user left unset filled from the model's defaults."""
    defaults = model_defaults(ref, provider)
    unset = {name: value for name, value in defaults.items() if getattr(request, name) is None}
    return dataclasses.replace(request, **unset)
