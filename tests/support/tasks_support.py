"""Helpers the task tests import: recorded fixtures and the CLI runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

FIXTURES = Path(__file__).parents[1] / "tasks" / "fixtures"
runner = CliRunner()


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def run_cli(*args: str, input: str | None = None) -> Any:
    from llmctl.cli.app import app

    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def long_document(paragraphs: int = 24, seed: int = 5) -> str:
    """A generated document of many paragraphs of several sentences, with names to find."""
    import random

    rng = random.Random(seed)
    people = ["Anna Berg", "Tomas Lind", "Maria Costa", "Kenji Sato"]
    places = ["Uppsala", "Lisbon", "Osaka", "Hamburg"]
    orgs = ["Nordic Rail", "the Harbour Board", "Acme Mills"]
    out = []
    for p in range(paragraphs):
        sentences = [f"In part {p}, {rng.choice(people)} travelled to {rng.choice(places)} for "
                     f"{rng.choice(orgs)}." for _ in range(2)]
        sentences += [f"The {rng.choice(['river', 'market', 'harvest', 'council'])} changed after "
                      f"{rng.randint(2, 9)} days of {rng.choice(['rain', 'talks', 'work', 'waiting'])}."
                      for _ in range(4)]
        out.append(" ".join(sentences))
    return "\n\n".join(out)
