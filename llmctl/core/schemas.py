"""`--schema`: a JSON Schema from a file, a JSON string or llm's concise syntax, checked before use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from llmctl.core.errors import InputError, UsageError

#: concise-syntax types and the JSON Schema each stands for (`list`, a list of strings, is ours: llm has none)
CONCISE_TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
    "bool": {"type": "boolean"}, "list": {"type": "array", "items": {"type": "string"}},
}
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\s+([A-Za-z]+))?$")


def concise_schema(text: str) -> dict[str, Any]:
    """`name, age int, bio: a short biography` -> an object schema with every field required.

    Fields are separated by commas, or by newlines when the text has any (a description may then
    hold commas); each is `NAME [TYPE][: description]`, TYPE one of str (default), int, float, bool,
    list (of strings).
    """
    parts = text.splitlines() if "\n" in text.strip() else text.split(",")
    properties: dict[str, Any] = {}
    for raw in parts:
        part = raw.strip()
        if not part:
            continue
        head, _, description = part.partition(":")
        match = _FIELD.match(head.strip())
        if match is None:
            raise UsageError(f"--schema: {part!r} is not a field (NAME [TYPE][: description])")
        name, kind = match.group(1), match.group(2) or "str"
        if kind not in CONCISE_TYPES:
            raise UsageError(f"--schema: field {name!r} has type {kind!r}; the types are "
                             f"{', '.join(CONCISE_TYPES)}")
        if name in properties:
            raise UsageError(f"--schema: field {name!r} is given twice")
        prop: dict[str, Any] = dict(CONCISE_TYPES[kind])
        if description.strip():
            prop["description"] = description.strip()
        properties[name] = prop
    if not properties:
        raise UsageError("--schema is empty: give fields (`name, age int`) or a JSON Schema")
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def read_schema(value: str, *, multi: bool = False) -> dict[str, Any]:
    """What --schema (or --schema-multi) names: a .json file, a JSON object, or the concise syntax.

    A schema that is not valid JSON Schema is a UsageError carrying the validator's own message.
    With `multi`, the answer is a list of such objects, wrapped as `{"items": [...]}`.
    """
    text = value
    source = "--schema"
    path = Path(value)
    if value.endswith(".json") or (len(value) < 4096 and "\n" not in value and path.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"--schema {value}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--schema {value}: cannot be read ({exc})") from None
        source = value
    if text.lstrip().startswith("{"):
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    else:
        schema = concise_schema(text)
    check_schema(schema, source)
    if multi:
        schema = {"type": "object", "properties": {"items": {"type": "array", "items": schema}},
                  "required": ["items"], "additionalProperties": False}
    return schema


def check_schema(schema: Any, source: str = "--schema") -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise UsageError(f"{source}: a JSON Schema is an object, not {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise UsageError(f"{source}: not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else "")
                         ) from None
    if schema.get("type") != "object":
        raise UsageError(f"{source}: the answer must be a JSON object; give a schema with \"type\": \"object\" "
                         "(--schema-multi makes a list)")


def answer_problem(answer: Any, schema: dict[str, Any]) -> str | None:
    """Why `answer` does not match `schema` (the first error, one line), or None when it does."""
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(schema).iter_errors(answer)), None)
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "answer"
    return f"{where}: {' '.join(error.message.split())}"


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode takes this schema as it is: every object closed, every property required."""
    if isinstance(schema, list):
        return all(strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(props):
            return False
    return all(strict_compatible(value) for value in schema.values() if isinstance(value, (dict, list)))
