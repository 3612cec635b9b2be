"""Helpers the task tests import: recorded fixtures and the CLI runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def run_cli(*args: str, input: str | None = None) -> Any:
    from llmctl.cli.app import app

    return runner.invoke(app, list(args), input=input, catch_exceptions=False)
