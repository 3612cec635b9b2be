"""What each option's value is, as `--help` shows it: `--max-cost USD`, not `--max-cost <str>`.

One table for every command, so an option means the same thing wherever it appears; a command
where a name takes something else says so in COMMAND_METAVARS. A `metavar=` given in an option's
declaration wins; an option in neither table falls back to its type (N, NUMBER, TEXT).
"""

from __future__ import annotations

from typing import Any

METAVARS: dict[str, str] = {
    "--model": "MODEL",
    "--models-file": "PATH",
    "--file": "PATH",
    "--jsonl": "PATH",
    "--field": "NAME",
    "--output": "PATH",
    "--max-cost": "USD",
    "--base-url": "URL",
    "--timeout": "SECONDS",
    "--max-wait": "SECONDS",
    "--poll-interval": "SECONDS",
    "--max-retries": "N",
    "--concurrency": "N",
    "--threads": "N",
    "--n-ctx": "TOKENS",
    "--n-gpu-layers": "N",
    "--device": "DEVICE",
    "--system": "TEXT",
    "--stop": "TEXT",
    "--max-tokens": "N",
    "--temperature": "FLOAT",
    "--top-p": "FLOAT",
    "--top-k": "N",
    "--seed": "N",
    "--repeat-penalty": "FLOAT",
    "--truncate": "N",
    "--dimensions": "N",
    "--port": "PORT",
    "--host": "ADDRESS",
    "--since": "YYYY-MM-DD",
    "--until": "YYYY-MM-DD",
    "--by": "day|provider|model|command",
    "--type": "TYPES",
    "--to": "gguf|hf",
    "--method": "METHOD",
    "--imatrix": "PATH",
    "--eval-text": "PATH",
    "--eval-ctx": "TOKENS",
    "--eval-stride": "TOKENS",
    "--max-ppl-rise": "PERCENT",
    "--compute-dtype": "DTYPE",
    "--labels": "LABELS",
    "--examples": "PATH",
    "--gold": "FIELD",
    "--max-words": "N",
    "--style": "paragraph|bullets|headline",
    "--language": "LANGUAGE",
    "--strategy": "map-reduce|refine",
    "--types": "TYPES",
}
#: Where one command's option takes something other than the same name elsewhere.
COMMAND_METAVARS: dict[str, dict[str, str]] = {
    "models": {"--from": "PROFILE"},
    "prices update": {"--from": "URL|FILE"},
}
#: What a value of each Click type is called when no table names the option.
BY_TYPE = {"int": "N", "integer": "N", "float": "NUMBER", "str": "TEXT", "text": "TEXT", "path": "PATH"}


def _long_name(param: Any) -> str:
    names = [opt for opt in [*param.opts, *param.secondary_opts] if opt.startswith("--")]
    return names[0] if names else param.opts[0]


def name_metavars(command: Any, path: str = "") -> None:
    """Give every option of `command` (and of its subcommands) that takes a value a metavar."""
    own = COMMAND_METAVARS.get(path, {})
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") != "option" or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        if getattr(param.type, "choices", None) is not None:
            continue  # a choice shows its values: <table|tsv>
        name = _long_name(param)
        metavar = own.get(name) or METAVARS.get(name) or BY_TYPE.get(str(getattr(param.type, "name", "")))
        if metavar is not None:
            param.metavar = metavar
    for name, sub in (getattr(command, "commands", None) or {}).items():
        name_metavars(sub, f"{path} {name}".strip())
