"""The built-in tools: `calc` (arithmetic, parsed with ast and never eval'd) and `llm_time`."""

from __future__ import annotations

import ast
import datetime
import math
import operator
from collections.abc import Callable
from typing import Any

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max,
                                             "log": math.log, "exp": math.exp}
_CONSTANTS = {"pi": math.pi, "e": math.e}
#: a power whose result would have more digits than this is refused (2 ** 10**9 would hang the process)
MAX_POWER_DIGITS = 10_000


def calc(expression: str) -> str:
    """Evaluate an arithmetic expression: numbers, + - * / // % ** and parentheses, sqrt, abs, round,
    min, max, log, exp, pi, e. Example: (1234 * 5678) / 2"""
    tree = ast.parse(expression.strip(), mode="eval")
    value = _value(tree.body)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return str(value)


def _value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0 and \
                abs(left) > 1 and right * math.log10(abs(left)) > MAX_POWER_DIGITS:
            raise ValueError(f"the result would have more than {MAX_POWER_DIGITS} digits")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS \
            and not node.keywords:
        return _FUNCTIONS[node.func.id](*(_value(arg) for arg in node.args))
    raise ValueError(f"not arithmetic: {ast.unparse(node)}")


def llm_time() -> dict[str, str]:
    """The current date and time, in UTC and in this computer's time zone."""
    now = datetime.datetime.now(datetime.UTC)
    local = now.astimezone()
    return {"utc": now.isoformat(timespec="seconds"), "local": local.isoformat(timespec="seconds"),
            "timezone": local.tzname() or ""}


BUILTINS: dict[str, Callable[..., Any]] = {"calc": calc, "llm_time": llm_time}
