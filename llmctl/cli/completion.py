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


def complete_quant_types(incomplete: str) -> list[tuple[str, str]]:
    """`quantize --type`: the GGUF types (with their descriptions), completing the last of a comma list."""
    from llmctl.quantize.types import quant_types

    done, comma, last = incomplete.rpartition(",")
    prefix = done + comma
    chosen = {name.strip().lower() for name in done.split(",")}
    return [(prefix + t.name, t.description) for t in quant_types()
            if t.name.startswith(last.strip().lower()) and t.name not in chosen]
