"""Shell completion: model names and aliases after -m, and Click's `bash_source` spelling accepted."""

from __future__ import annotations

import os

COMPLETE_VAR = "_LLMCTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def accept_click_spelling() -> None:
    """Click documents `_LLMCTL_COMPLETE=bash_source`; Typer reads `source_bash`. Take both."""
    shell, _, instruction = os.environ.get(COMPLETE_VAR, "").partition("_")
    if shell in SHELLS and instruction in ("source", "complete"):
        os.environ[COMPLETE_VAR] = f"{instruction}_{shell}"


def complete_model_name(incomplete: str) -> list[str]:
    """Aliases, configured models, profiles and cached GGUF files that start with what was typed."""
    from llmctl.core.errors import LlmctlError

    try:
        from llmctl.core.config import get_config
        from llmctl.providers.registry import model_names

        names = model_names(get_config())
    except LlmctlError:
        return []
    return [name for name in names if name.startswith(incomplete)]
