"""Configuration is checked when a command starts; a model name not from -m says where it came from."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app

runner = CliRunner()
TAKES = "kind, base_url, timeout, max_retries, max_wait, retry_timeouts, concurrency, key_env, tokenizer, prices"


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("command", [["tokenize", "-m", "openai:gpt-4o", "hi"], ["models"], ["usage"],
                                     ["cache", "stats"], ["prices"]])
def test_a_typo_in_a_profile_that_is_not_used_is_exit_3(user_config, command: list[str]) -> None:
    path = user_config('[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ntimout = 5\n')
    result = run(*command)
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"llmctl: error: {path}: [profiles.local] unknown key 'timout'; the openai backend " \
                            f"takes: {TAKES}\n"


@pytest.mark.parametrize(("text", "message"), [
    ('[profiles.local]\nkind = "openia"\nbase_url = "http://127.0.0.1:9/v1"\n',
     "[profiles.local] kind 'openia' is not a backend; expected one of: anthropic, gemini, gguf, hf, mistral, openai"),
    ('[providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\n',
     "[providers.mine] kind 'mine' is not a backend; expected one of: anthropic, gemini, gguf, hf, mistral, openai"),
    ('[providers.openai]\ntimeout = "soon"\n', "[providers.openai] timeout must be a number, not 'soon'"),
    ('[profiles.box]\nkind = "gguf"\nthreds = 4\n',
     "[profiles.box] unknown key 'threds'; the gguf backend takes: kind, n_ctx, threads, n_gpu_layers"),
])
def test_a_broken_backend_table_is_exit_3_whatever_the_model(user_config, text: str, message: str) -> None:
    path = user_config(text)
    result = run("tokenize", "-m", "openai:gpt-4o", "hi")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"llmctl: error: {path}: {message}\n"


def test_help_is_shown_whatever_the_config_holds(user_config) -> None:
    user_config('[profiles.local]\nkind = "openai"\ntimout = 5\n')
    result = run("tokenize", "--help")
    assert result.exit_code == 0 and result.stdout.startswith("Usage: llmctl tokenize")


def test_good_backend_tables_still_run(user_config) -> None:
    user_config('[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ntimeout = 5\n'
                'prices = "openai"\ntokenizer = "gguf:smollm2"\n\n[providers.openai]\nmax_retries = 1\n')
    result = run("tokenize", "-m", "openai:gpt-4o", "hello")
    assert (result.exit_code, result.stdout) == (0, "1\n")


@pytest.mark.parametrize("command", [["complete", "hi"], ["tokenize", "hi"], ["embed", "hi"]])
def test_a_bad_llmctl_model_says_it_came_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                              command: list[str]) -> None:
    monkeypatch.setenv("LLMCTL_MODEL", "nosuch")
    result = run(*command)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith("llmctl: error: $LLMCTL_MODEL: cannot tell the provider of 'nosuch'; write "
                                    "PROVIDER:MODEL with a provider among ")
    assert result.stderr.count("\n") == 1
    monkeypatch.setenv("LLMCTL_MODEL", "openai:nosuch")
    unknown = run(*command)
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("llmctl: error: $LLMCTL_MODEL: unknown model openai:nosuch; known openai models: ")


def test_a_bad_default_in_the_config_names_the_file_and_key(user_config) -> None:
    path = user_config('[defaults]\nmodel = "nosuch"\nembed_model = "openai:nosuch"\n')
    result = run("complete", "hi")
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr.startswith(f"llmctl: error: {path}: [defaults] model: cannot tell the provider of 'nosuch'")
    embed = run("embed", "hi")
    assert embed.exit_code == 3
    assert embed.stderr.startswith(f"llmctl: error: {path}: [defaults] embed_model: unknown model openai:nosuch")
    # -m wins over both, and is not blamed on them.
    assert run("tokenize", "-m", "openai:gpt-4o", "hi").exit_code == 0

