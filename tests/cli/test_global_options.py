"""Global options work before or after every command name, --format lists its choices, and
--quiet means nothing on stderr but errors (the README says so too)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.cli.arguments import rewrite_command_args

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
OLD_PRICE = ('[prices.openai."gpt-4o"]\ninput = "2.50"\noutput = "10.00"\nas_of = "2020-01-01"\n'
             'source = "https://openai.com/api/pricing/"\n')


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


@pytest.mark.parametrize("args", [
    ["tokenize", "-m", "openai:gpt-4o", "-v", "hello"],
    ["tokenize", "-m", "openai:gpt-4o", "hello", "--verbose"],
    ["models", "-q"],
    ["models", "--quiet", "--format", "tsv"],
    ["prices", "-q"],
    ["prices", "--verbose"],
    ["prices", "-qv"],
    ["complete", "--format", "tsv", "--help"],
    ["embed", "--format=tsv", "--help"],
    ["run-local", "--help", "-q"],
])
def test_global_options_after_the_command_name(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert "No such option" not in result.stderr


@pytest.mark.parametrize("command", [["models"], ["prices"]])
def test_global_json_is_the_same_before_and_after(command: list[str]) -> None:
    before = run("--json", *command)
    after = run(*command, "--json")
    assert before.exit_code == after.exit_code == 0
    assert before.stdout == after.stdout
    assert all(isinstance(json.loads(line), dict) for line in after.stdout.splitlines())


def test_format_after_the_command_decides_the_table() -> None:
    result = run("models", "--format", "tsv")
    assert result.stdout.splitlines()[0].split("\t")[:3] == ["model", "alias_of", "context_window"]


def test_format_lists_its_choices() -> None:
    bad = run("prices", "--format", "csv")
    assert bad.exit_code == 2
    assert "'csv' is not one of 'table', 'tsv'" in bad.stderr
    assert "--format <table|tsv>" in run("--help").stdout
    assert "--format <table|tsv>" in run("models", "--help").stdout


def test_quiet_drops_warnings_too(user_config) -> None:
    user_config(OLD_PRICE)
    loud = run("prices")
    assert "warning:" in loud.stderr
    for args in (["prices", "-q"], ["-q", "prices"], ["prices", "--quiet"]):
        quiet = run(*args)
        assert quiet.exit_code == 0
        assert quiet.stderr == ""
        assert quiet.stdout == loud.stdout


def test_quiet_drops_the_unknown_price_warning_and_summary(user_config) -> None:
    user_config('[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n')
    loud = run("tokenize", "-m", "local:mystery", "hello")
    assert "warning: no price is known" in loud.stderr
    quiet = run("tokenize", "-m", "local:mystery", "hello", "-q")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, loud.stdout, "")


def test_quiet_keeps_errors() -> None:
    result = run("tokenize", "-q", "-m", "openai:gpt-4o", "--truncate", "0", "hi")
    assert (result.exit_code, result.stderr) == (2, "llmctl: error: --truncate must be a positive number of tokens, "
                                                    "not 0\n")


def test_readme_says_what_quiet_does() -> None:
    readme = (ROOT / "README.md").read_text()
    help_text = " ".join(run("--help").stdout.split())
    promise = "Nothing on stderr but errors: no summary, progress or warnings."
    assert promise in help_text
    assert re.search(r"`--quiet`[^.]*nothing on stderr but errors", readme.replace("\n", " "))


def test_values_that_look_like_global_options_stay_with_their_option() -> None:
    declared = {"--system": type("P", (), {"is_flag": False, "count": False})()}
    own, moved, wants_help = rewrite_command_args(["--system", "-q", "hi", "-v"], declared)
    assert own == ["--system", "-q", "hi"]
    assert moved == ["-v"]
    assert not wants_help
    own, moved, _ = rewrite_command_args(["--", "-q"], declared)
    assert (own, moved) == (["--", "-q"], [])
