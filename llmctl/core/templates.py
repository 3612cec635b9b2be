"""Prompt templates: one TOML file each in `$XDG_CONFIG_HOME/llmctl/templates/NAME.toml`.

    system = "You are terse."
    prompt = "Explain $topic to $audience:\\n\\n$input"
    model = "openai:gpt-4o-mini"
    schema = { type = "object", properties = { name = { type = "string" } } }   # kept for --schema
    [options]
    temperature = 0.2
    [defaults]
    audience = "a beginner"

`$name` placeholders (Python's string.Template; `$$` is a dollar) are filled from `-p NAME VALUE`,
then `[defaults]`; `$input` is the text the command was given (appended to the prompt when it has
no `$input`). A missing parameter is exit 2 naming it; a file that is not valid TOML, or holds an
unknown key, is exit 3 naming the file and line.
"""

from __future__ import annotations

import json
import os
import re
import string
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmctl.core.config import user_config_dir
from llmctl.core.errors import ConfigError, InputError, UsageError
from llmctl.core.inputs import InputItem

#: the sampling settings a template may carry, and the types each takes
OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "max_tokens": (int,), "temperature": (int, float), "top_p": (int, float), "top_k": (int,),
    "stop": (list,), "seed": (int,), "repeat_penalty": (int, float),
}
KEYS = ("system", "prompt", "model", "options", "schema", "defaults")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: the placeholder for the command's own input text
INPUT = "input"


def templates_dir() -> Path:
    return user_config_dir() / "templates"


def template_path(name: str) -> Path:
    if not NAME.match(name) or name.endswith(".toml"):
        raise UsageError(f"template name {name!r}: use letters, digits, '.', '_' and '-' (no path, no .toml)")
    return templates_dir() / f"{name}.toml"


@dataclass
class Template:
    name: str
    system: str | None = None
    prompt: str | None = None
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] | str | None = None
    defaults: dict[str, str] = field(default_factory=dict)

    def parameters(self) -> list[str]:
        """The `$name` placeholders of the system prompt and prompt, `$input` left out."""
        names: list[str] = []
        for text in (self.system, self.prompt):
            if text:
                names += [n for n in string.Template(text).get_identifiers() if n != INPUT and n not in names]
        return names

    def render(self, params: Mapping[str, str], text: str | None) -> tuple[str | None, str]:
        """(system, prompt) with every placeholder filled; `text` is the command's input, if any."""
        values = {**self.defaults, **params}
        missing = [name for name in self.parameters() if name not in values]
        if missing:
            flags = " ".join(f"-p {name} VALUE" for name in missing)
            raise UsageError(f"template {self.name} needs {', '.join(missing)}: give {flags}")
        unknown = [name for name in params if name not in self.parameters()]
        if unknown:
            raise UsageError(f"template {self.name} has no parameter {unknown[0]!r} "
                             f"(it takes: {', '.join(self.parameters()) or 'none'})")
        prompt = self.prompt or ""
        if text is not None and INPUT not in string.Template(prompt).get_identifiers():
            prompt = f"{prompt}\n\n${INPUT}" if prompt else f"${INPUT}"
        values[INPUT] = text or ""
        try:
            system = string.Template(self.system).substitute(values) if self.system else None
            return system, string.Template(prompt).substitute(values)
        except ValueError as exc:  # a lone `$` or `${` that names nothing
            raise ConfigError(f"{template_path(self.name)}: {exc} (write $$ for a dollar sign)") from None

    def render_items(self, params: Mapping[str, str], items: Sequence[InputItem] | None) -> list[InputItem]:
        """The command's inputs through the template; with none given, the template's own prompt."""
        if items is None:
            if not self.prompt:
                raise InputError(f"template {self.name} has no prompt: give TEXT, -f FILE or pipe text on stdin")
            _, text = self.render(params, None)
            return [InputItem(text, f"<template {self.name}>")]
        return [replace(item, text=self.render(params, item.text)[1]) if item.problem is None else item
                for item in items]

    def to_toml(self) -> str:
        lines = [f"{key} = {_toml_value(value)}" for key, value in
                 (("system", self.system), ("prompt", self.prompt), ("model", self.model)) if value is not None]
        if self.schema is not None:
            lines.append(f"schema = {_toml_value(self.schema)}")
        for table in ("options", "defaults"):
            values = getattr(self, table)
            if values:
                lines += ["", f"[{table}]", *(f"{key} = {_toml_value(value)}" for key, value in values.items())]
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if "\n" in value and "'''" not in value and not any(ord(c) < 32 and c not in "\n\t" for c in value):
            return "'''\n" + value + "'''"  # a literal multi-line string: easy to edit by hand
        # JSON's string escapes are TOML's; DEL is the one control character JSON leaves raw.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise UsageError(f"a template cannot hold {value!r}")


def _check(name: str, path: Path, data: dict[str, Any]) -> Template:
    for key in data:
        if key not in KEYS:
            raise ConfigError(f"{path}: unknown key {key!r}; a template holds: {', '.join(KEYS)}")
    for key in ("system", "prompt", "model"):
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f"{path}: {key} must be a string")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: options must be a table ([options])")
    for key, value in options.items():
        kinds = OPTION_TYPES.get(key)
        if kinds is None:
            raise ConfigError(f"{path}: [options] unknown key {key!r}; expected one of: {', '.join(OPTION_TYPES)}")
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ConfigError(f"{path}: [options] {key} has the wrong type ({value!r})")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or not all(isinstance(v, str) for v in defaults.values()):
        raise ConfigError(f"{path}: defaults must be a table of strings ([defaults])")
    schema = data.get("schema")
    if schema is not None and not isinstance(schema, dict | str):
        raise ConfigError(f"{path}: schema must be a table (a JSON schema) or a string")
    return Template(name, data.get("system"), data.get("prompt"), data.get("model"), dict(options), schema,
                    dict(defaults))


def load_template(name: str) -> Template:
    path = template_path(name)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no template named {name!r} in {templates_dir()} (`llmctl templates list`)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _check(name, path, data)


def save_template(template: Template) -> Path:
    """Write the template whole (a temporary file renamed over it: never half a file)."""
    if not any((template.system, template.prompt, template.model, template.options, template.schema)):
        raise UsageError("--save: nothing to save (give a prompt, -s, -m or options)")
    path = template_path(template.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    part.write_text(template.to_toml(), encoding="utf-8")
    os.replace(part, path)
    return path


def list_templates() -> list[tuple[str, Template | ConfigError]]:
    """Every template by name; one that does not load is listed with its error."""
    folder = templates_dir()
    found: list[tuple[str, Template | ConfigError]] = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            found.append((path.stem, load_template(path.stem)))
        except ConfigError as exc:
            found.append((path.stem, exc))
        except UsageError:
            continue
    return found


def remove_template(name: str) -> Path:
    path = template_path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        raise UsageError(f"no template named {name!r} in {templates_dir()}") from None
    return path


def merged_options(template: Template | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling settings: the command line's (those not None) win over the template's."""
    merged = dict(template.options) if template is not None else {}
    merged.update({key: value for key, value in given.items() if value is not None and value != []})
    return merged


def template_items(template: Template, params: Mapping[str, str], collect: Callable[[], list[InputItem]],
                   nothing_given: bool) -> list[InputItem]:
    """The inputs of a `--template` run: what the command was given (arguments, -f, --jsonl, piped
    stdin) through the template; nothing given (or nothing piped), the template's prompt alone."""
    from llmctl.core.inputs import stdin_is_piped

    items: list[InputItem] | None = None
    if not nothing_given or not template.prompt:
        items = collect()
    elif stdin_is_piped():
        try:
            items = collect()
        except InputError:
            items = None  # nothing was piped: the template's own prompt is the input
    return template.render_items(params, items)


def edit_template(name: str) -> Path:
    """Open the template's file in $VISUAL or $EDITOR, then load it: a broken file is exit 3 naming its line."""
    import shlex
    import subprocess

    path = template_path(name)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        raise UsageError(f"set $EDITOR (or $VISUAL) to edit templates, or edit {path} yourself")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('# system = "..."\nprompt = "$input"\n', encoding="utf-8")
    try:
        subprocess.run([*shlex.split(editor), str(path)], check=True)  # noqa: S603 - the user's own editor
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UsageError(f"the editor {editor!r} failed: {exc}") from None
    load_template(name)
    return path


@dataclass
class Applied:
    """A command's system prompt, models, sampling settings and inputs once its template is applied."""

    system: str | None
    model: list[str] | None
    sampling: dict[str, Any]
    items: list[InputItem]
    #: the template's schema (a JSON schema or llm's concise syntax), for --schema
    schema: dict[str, Any] | str | None = None


def apply_template(name: str | None, params: Mapping[str, str], *, system: str | None, model: list[str] | None,
                   sampling: dict[str, Any], collect: Callable[[], list[InputItem]], nothing_given: bool) -> Applied:
    """What the command line gave, with the template's values where it gave none (no template: as given)."""
    if name is None:
        return Applied(system, model, {k: v for k, v in sampling.items() if v is not None}, collect())
    used = load_template(name)
    return Applied(system if system is not None else used.render(params, None)[0],
                   model or ([used.model] if used.model else None), merged_options(used, sampling),
                   template_items(used, params, collect, nothing_given), used.schema)


def template_from_command(name: str, system: str | None, words: Sequence[str] | None, model: Sequence[str] | None,
                          sampling: Mapping[str, Any], schema: str | None = None) -> Template:
    """`--save NAME`: the command's prompt words, system prompt, first model, the options it set and its
    --schema (as given: a JSON schema string or file is kept as the schema itself)."""
    return Template(name, system, " ".join(words or []) or None, model[0] if model else None,
                    merged_options(None, sampling), _saved_schema(schema))


def _saved_schema(schema: str | None) -> dict[str, Any] | str | None:
    if schema is None:
        return None
    import json
    from pathlib import Path

    text = Path(schema).read_text(encoding="utf-8") if Path(schema).is_file() else schema
    try:
        parsed = json.loads(text)
    except ValueError:
        return schema  # llm's concise syntax, kept as written
    return parsed if isinstance(parsed, dict) else schema
