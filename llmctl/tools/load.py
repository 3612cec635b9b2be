"""Tools from Python functions: a JSON Schema from each signature (pydantic), its docstring as description."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

from llmctl.core.errors import UsageError
from llmctl.core.tooling import Tool, ToolSpec
from llmctl.tools.builtin import BUILTINS

BUILTIN_NAMES = tuple(BUILTINS)


def tool_from_function(fn: Callable[..., Any], name: str | None = None) -> Tool:
    """A tool offered under the function's name; its arguments are checked (and converted) by pydantic
    before the call, so a model's `"3"` for an `int` arrives as 3 and a wrong one goes back as an error."""
    name = name or fn.__name__
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UsageError(f"tool {name}: *{param.name} cannot be described to a model; name every argument")
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    try:
        arguments = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        schema = arguments.model_json_schema()
    except Exception as exc:  # pydantic refuses annotations it cannot describe
        raise UsageError(f"tool {name}: its arguments cannot be described as JSON Schema ({exc})") from None
    _drop_titles(schema)

    def call(**given: Any) -> Any:
        try:
            checked = arguments.model_validate(given)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "arguments"
            raise ValueError(f"{where}: {first.get('msg', 'invalid')}") from None
        return fn(**{key: getattr(checked, key) for key in fields})

    description = inspect.getdoc(fn) or f"The function {name}."
    return Tool(ToolSpec(name, description, schema), call)


def _drop_titles(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("title", None)
        for key, value in node.items():
            if key != "properties":
                _drop_titles(value)
            else:
                for prop in value.values():
                    _drop_titles(prop)
    elif isinstance(node, list):
        for value in node:
            _drop_titles(value)


def tools_from_file(path: str) -> list[Tool]:
    """Every public function defined at the top of a Python file, imported as its own module.

    A file that does not import (a syntax error, a failing import, an exception at top level) is a
    UsageError (exit 2) carrying its error: nothing has been sent to a model yet.
    """
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--functions {path}: no such file")
    module_name = f"llmctl_functions_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise UsageError(f"--functions {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise UsageError(f"--functions {path}: cannot be imported: SyntaxError: {exc.msg} (line {exc.lineno})"
                         ) from None
    except BaseException as exc:  # whatever the file raises while it runs is its error, not ours
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(f"--functions {path}: cannot be imported: {type(exc).__name__}: {exc}") from None
    found = [value for name, value in vars(module).items()
             if inspect.isfunction(value) and not name.startswith("_") and value.__module__ == module_name]
    if not found:
        raise UsageError(f"--functions {path}: defines no public function to offer as a tool")
    return [tool_from_function(fn) for fn in found]


def choose_tools(names: Sequence[str], files: Sequence[str]) -> list[Tool]:
    """The tools named on the command line: `-T NAME` built-ins, then each `--functions FILE`'s; a name
    given twice is a UsageError (the model could not tell them apart)."""
    tools: list[Tool] = []
    for name in names:
        if name not in BUILTINS:
            raise UsageError(f"-T {name}: no such tool; the built-in tools are {', '.join(BUILTIN_NAMES)} "
                             "(--functions FILE offers your own)")
        tools.append(tool_from_function(BUILTINS[name]))
    for path in files:
        tools.extend(tools_from_file(path))
    seen: set[str] = set()
    for tool in tools:
        if tool.spec.name in seen:
            raise UsageError(f"two tools are named {tool.spec.name}; a model could not tell them apart")
        seen.add(tool.spec.name)
    return tools
