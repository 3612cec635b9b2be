"""$LLMCTL_MODEL is resolved where it is used: against --base-url when one is given."""

from __future__ import annotations

import json

import pytest
from support.fault_server import FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app


def test_llmctl_model_with_base_url_is_resolved_against_that_endpoint(monkeypatch: pytest.MonkeyPatch,
                                                                      faults: FaultServer) -> None:
    # An OpenAI-compatible server serves names OpenAI does not know; with --base-url they are fine.
    monkeypatch.setenv("LLMCTL_MODEL", "openai:llama3")
    result = CliRunner().invoke(app, ["complete", "--base-url", faults.base_url, "--json", "hi"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "openai:llama3"
    assert faults.seen[-1].body["model"] == "llama3"
    # Without it, the same name is unknown, and the error says where the name came from.
    alone = CliRunner().invoke(app, ["complete", "hi"], catch_exceptions=False)
    assert alone.exit_code == 2
    assert alone.stderr.startswith("llmctl: error: $LLMCTL_MODEL: unknown model openai:llama3; ")
