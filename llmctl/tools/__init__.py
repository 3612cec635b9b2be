"""Tools a model may call: the built-ins (`-T calc`) and every function of a Python file (`--functions`)."""

from llmctl.tools.load import BUILTIN_NAMES, choose_tools, tool_from_function, tools_from_file

__all__ = ["BUILTIN_NAMES", "choose_tools", "tool_from_function", "tools_from_file"]
