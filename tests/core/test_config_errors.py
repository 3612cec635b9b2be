"""Broken configuration is loud: exit 3 with one line naming the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.config import load_config
from llmctl.core.config_tables import KNOWN_TABLES
from llmctl.core.errors import ConfigError

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_a_named_config_file_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nonexistent.toml"
    monkeypatch.setenv("LLMCTL_CONFIG", str(missing))
    result = run("tokenize", "-m", "openai:gpt-4o", "hi")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"llmctl: error: {missing}: no such config file (named by LLMCTL_CONFIG)\n"


def test_a_named_config_that_is_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCTL_CONFIG", str(tmp_path))
    result = run("models")
    assert (result.exit_code, result.stderr) == (
        3, f"llmctl: error: {tmp_path}: is a directory, not a config file (named by LLMCTL_CONFIG)\n")


def test_the_default_location_may_be_absent() -> None:
    assert run("tokenize", "-m", "openai:gpt-4o", "hi").exit_code == 0


@pytest.mark.parametrize(("text", "message"), [
    ("[defaults]\nmodel = 1\n", "[defaults] model must be a model name (a string), not 1 (an integer)"),
    ("[defaults]\nembed_model = true\n", "[defaults] embed_model must be a model name (a string), not true "
                                         "(a boolean)"),
    ("[defaults]\nmodle = \"smollm2\"\n", "[defaults] unknown key 'modle'; expected one of: model, embed_model"),
    ("[aliases]\nfast = 3\n", "[aliases] fast must be a model name (a string), not 3 (an integer)"),
    ("[defualts]\nmodel = \"smollm2\"\n", f"unknown table [defualts]; expected one of: {', '.join(KNOWN_TABLES)}"),
    ("defaults = 3\n", "defaults must be a table ([defaults]), not 3 (an integer)"),
    ("[profiles]\nlocal = \"http://x\"\n", "profiles.local must be a table ([profiles.local]), not 'http://x' "
                                           "(a string)"),
    ("[profiles.local]\nkind = 1\n", "[profiles.local] kind must be a backend name (a string), not 1 (an integer)"),
    ("[models.openai]\n\"gpt-4o\" = 1\n", "models.openai.gpt-4o must be a table, not 1 (an integer)"),
])
def test_wrong_types_and_unknown_keys_are_exit_3(user_config, text: str, message: str) -> None:
    path = user_config(text)
    result = run("tokenize", "-m", "openai:gpt-4o", "hi")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"llmctl: error: {path}: {message}\n"


def test_an_unknown_profile_kind_is_exit_3(user_config) -> None:
    path = user_config('[profiles.local]\nkind = "openia"\nbase_url = "http://127.0.0.1:9/v1"\n')
    result = run("tokenize", "-m", "local:any", "hi")
    assert result.exit_code == 3
    assert result.stderr == (f"llmctl: error: {path}: [profiles.local] kind 'openia' is not a backend; expected "
                             "one of: anthropic, gemini, gguf, hf, mistral, openai\n")


def test_an_unknown_key_in_a_profile_is_exit_3(user_config) -> None:
    path = user_config('[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nretries = 2\n')
    result = run("complete", "-m", "local:any", "hi")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"llmctl: error: {path}: [profiles.local] unknown key 'retries'")


def test_load_config_raises_config_error_for_a_path_given_in_python(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "gone.toml")
    assert err.value.exit_code == 3
    assert err.value.one_line() == f"{tmp_path / 'gone.toml'}: no such config file"


def test_a_good_user_file_still_loads(user_config) -> None:
    user_config('[defaults]\nmodel = "openai:gpt-4o-mini"\n\n[aliases]\nfast = "openai:gpt-4.1-nano"\n\n'
                '[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ntimeout = 5\n')
    result = run("tokenize", "-m", "fast", "hello")
    assert (result.exit_code, result.stdout) == (0, "1\n")
