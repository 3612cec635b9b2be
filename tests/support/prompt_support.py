"""Helpers of the prompt-feature tests: the API wire kit (as `api`) and the CLI runner."""

from __future__ import annotations

from typing import Any

from support import api_wire as api

__all__ = ["api", "run_cli"]


def run_cli(*args: str, input: str | None = None) -> Any:  # noqa: A002
    from typer.testing import CliRunner

    from llmctl.cli.app import app

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
