"""The command line as a user types it, made into what Click parses: global options anywhere, `-f` lists.

- Global options (`--json`, `-q/--quiet`, `-v/--verbose`, `--format`) work before or after every
  command name: after it, those the command does not declare itself move in front of it.
- `-f/--file` takes every path that follows it up to the next option, so `-f docs/*.md` reads
  every file the shell expanded (put a prompt before `-f`, or after `--`).
- `-p/--param NAME VALUE` (a template's parameter) takes two values: Click gets `-p NAME -p VALUE`,
  paired again by the command.
- `--help` of a command shows each backend option's default and the backends that take it,
  read from the typed option models only when help is asked for, and what each option takes
  (`--max-cost USD`: llmctl.cli.metavars).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

#: Global options and whether each takes a value.
GLOBAL_OPTIONS = {"--json": False, "--quiet": False, "-q": False, "--verbose": False, "-v": False,
                  "--format": True}
GLOBAL_SHORT = {"q": "-q", "v": "-v"}
FILE_OPTIONS = ("-f", "--file")
PAIR_OPTIONS = ("-p", "--param")
HELP_OPTIONS = ("-h", "--help")
#: ctx.meta key: the command line asks for a command's help
HELP_ASKED = "llmctl.help_asked"


def _option_table(command: Any) -> dict[str, Any]:
    """Every option string of a command -> its parameter."""
    table: dict[str, Any] = {}
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") != "option":
            continue
        for opt in [*param.opts, *param.secondary_opts]:
            table[opt] = param
    return table


def _takes_value(param: Any) -> bool:
    return not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def _is_option(token: str) -> bool:
    return token.startswith("-") and token != "-"


def rewrite_command_args(tail: list[str], declared: dict[str, Any]) -> tuple[list[str], list[str], bool]:
    """(the command's own args, global options to move before its name, whether help was asked for)."""
    own: list[str] = []
    moved: list[str] = []
    wants_help = False
    i = 0
    while i < len(tail):
        token = tail[i]
        i += 1
        if token == "--":
            own.append(token)
            own.extend(tail[i:])
            break
        if not _is_option(token):
            own.append(token)
            continue
        name, eq, _ = token.partition("=")
        if token in HELP_OPTIONS:
            wants_help = True
        if name in declared:
            param = declared[name]
            if name in PAIR_OPTIONS and not eq and param.name == "params":
                values = tail[i:i + 2]  # a missing value stays missing: Click or the command says so
                own.extend([part for value in values for part in (name, value)] or [name])
                i += 2
                continue
            own.append(token)
            if _takes_value(param) and not eq and i < len(tail):
                own.append(tail[i])
                i += 1
            if name in FILE_OPTIONS:
                # `-f a.md b.md c.md`: every following path belongs to -f.
                while i < len(tail) and not _is_option(tail[i]):
                    own.extend([name, tail[i]])
                    i += 1
            continue
        if not token.startswith("--") and len(token) > 2 and token[:2] in declared:
            own.append(token)  # `-fa.txt`, `-mopenai:gpt-4o`: a short option with its value attached
            if token[:2] in FILE_OPTIONS:
                while i < len(tail) and not _is_option(tail[i]):
                    own.extend([token[:2], tail[i]])
                    i += 1
            continue
        if name in GLOBAL_OPTIONS:
            moved.append(token)
            if GLOBAL_OPTIONS[name] and not eq and i < len(tail):
                moved.append(tail[i])
                i += 1
            continue
        letters = token[1:]
        if not token.startswith("--") and letters and all(c in GLOBAL_SHORT for c in letters):
            moved.extend(GLOBAL_SHORT[c] for c in letters)  # `-qv`
            continue
        own.append(token)
    return own, moved, wants_help


class LlmctlGroup(TyperGroup):
    """The root group: rewrites the arguments before Click parses them (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from llmctl.cli.metavars import name_metavars

        name_metavars(self)

    def _main_shell_completion(self, ctx_args: Any, prog_name: str, complete_var: str | None = None) -> None:
        from llmctl.cli.completion import use_colon_aware_bash

        use_colon_aware_bash()  # after Typer registered its own: `provider:model` names complete in bash
        super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._rewrite(ctx, list(args)))

    def _rewrite(self, ctx: Any, args: list[str]) -> list[str]:
        root = _option_table(self)
        i = 0
        while i < len(args):
            token = args[i]
            if token == "--" or not _is_option(token):
                break
            name, eq, _ = token.partition("=")
            param = root.get(name)
            i += 2 if param is not None and _takes_value(param) and not eq else 1
        if i >= len(args) or args[i] == "--":
            return args
        command = self.get_command(ctx, args[i])
        if command is None:
            return args
        own, moved, wants_help = rewrite_command_args(args[i + 1:], _option_table(command))
        if wants_help:
            ctx.meta[HELP_ASKED] = True  # help is shown whatever the config holds
            show_backend_defaults(command)
        return [*args[:i], *moved, args[i], *own]


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def show_backend_defaults(command: Any) -> None:
    """Fill in `--help`: each backend option's help, default and the backends that take it."""
    from llmctl.providers.options import SamplingOptions
    from llmctl.providers.registry import builtin_option_models

    by_kind = builtin_option_models()

    for param in getattr(command, "params", []):
        name = getattr(param, "name", None)
        if getattr(param, "param_type_name", "") != "option" or not name or getattr(param, "_described", False):
            continue
        kinds = [kind for kind, cls in by_kind.items() if name in cls.model_fields and name not in cls.internal]
        if kinds:
            field = by_kind[kinds[0]].model_fields[name]
            text, default = field.description or param.help or "", field.default
            where = ", ".join(kinds)
            shown = default is not None and default is not False
            param.help = f"{text} [{where}; default: {_shown(default)}]" if shown else f"{text} [{where}]"
        elif name in SamplingOptions.model_fields and name != "stop":
            text = SamplingOptions.model_fields[name].description or param.help or ""
            param.help = f"{text} [default: the model's own]"
        param._described = True
