"""Shell completion: model names and aliases after -m, and Click's `bash_source` spelling accepted.

Bash splits `openai:gpt-4o` at the colon (COMP_WORDBREAKS); its completion class puts the name
back together and answers with what follows the colon, the part bash replaces.
"""

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


def join_colon_words(words: list[str]) -> list[str]:
    """Bash's COMP_WORDS with `:` put back inside words: `openai`, `:`, `gpt` -> `openai:gpt`.

    `:` is in bash's COMP_WORDBREAKS, so a `provider:model` name reaches us in pieces, the colons
    as words of their own.
    """
    joined: list[str] = []
    glue = False
    for word in words:
        if word and set(word) == {":"} and joined:
            joined[-1] += word
            glue = True
        elif glue:
            joined[-1] += word
            glue = False
        else:
            joined.append(word)
    return joined


def bash_complete_class() -> type:
    """Typer's bash completion, made to complete words that hold a `:` (Click's documented way to
    change a shell's completion: a ShellComplete subclass registered under the shell's name)."""
    from typer._click.shell_completion import split_arg_string
    from typer._completion_classes import BashComplete

    class ColonBashComplete(BashComplete):
        def _words(self) -> tuple[list[str], str, str]:
            """(complete args, the word being completed whole, the part of it bash will replace)."""
            cwords = split_arg_string(os.environ["COMP_WORDS"])
            cword = int(os.environ["COMP_CWORD"])
            current = cwords[cword] if cword < len(cwords) else ""
            words = join_colon_words([*cwords[1:cword], current])
            # Bash replaces only what follows the last word break: nothing, when the cursor is on a `:`.
            replaced = "" if current and set(current) == {":"} else current
            return words[:-1], words[-1], replaced

        def get_completion_args(self) -> tuple[list[str], str]:
            args, incomplete, _ = self._words()
            return args, incomplete

        def complete(self) -> str:
            args, incomplete, replaced = self._words()
            cut = len(incomplete) - len(replaced)
            values = [item.value for item in self.get_completions(args, incomplete)]
            if cut:
                values = [value[cut:] for value in values if value.startswith(incomplete[:cut])]
            return "\n".join(values)

    return ColonBashComplete


def use_colon_aware_bash() -> None:
    from typer._click.shell_completion import add_completion_class

    add_completion_class(bash_complete_class(), "bash")
