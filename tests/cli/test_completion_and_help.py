"""Shell completion (models and aliases after -m), help that shows choices and defaults, plurals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.http import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _llmctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmctl", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env}, timeout=60)


def test_completion_scripts_in_both_spellings() -> None:
    for spelling in ("bash_source", "source_bash"):
        proc = _llmctl({"_LLMCTL_COMPLETE": spelling})
        assert proc.returncode == 0, proc.stderr
        assert "_llmctl_completion()" in proc.stdout and "complete_bash" in proc.stdout
    zsh = _llmctl({"_LLMCTL_COMPLETE": "zsh_source"})
    assert "#compdef llmctl" in zsh.stdout


def _completions(words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    proc = _llmctl({"_LLMCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_model_names_and_aliases_complete() -> None:
    assert _completions("llmctl complete -m sm") == ["smollm2"]
    assert "minilm" in _completions("llmctl embed -m ")
    assert "openai:gpt-4o-mini" in _completions("llmctl tokenize -m openai:gpt-4o")
    assert _completions("llmctl run-local smol") == ["smollm2"]
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout


def test_help_shows_choices_and_defaults() -> None:
    for args in (["--help"], ["models", "--help"], ["embed", "--help"]):
        assert "--format <table|tsv>" in runner.invoke(app, args).stdout
    text = " ".join(runner.invoke(app, ["complete", "--help"]).stdout.split())
    assert f"[anthropic, gemini, mistral, openai; default: {DEFAULT_TIMEOUT:g}]" in text
    assert f"[anthropic, gemini, mistral, openai; default: {DEFAULT_MAX_RETRIES}]" in text
    assert "a local GGUF model stops at 512" in text
    bad = runner.invoke(app, ["models", "--format", "html"])
    assert bad.exit_code == 2 and "'html' is not one of 'table', 'tsv'" in bad.stderr


def test_plurals() -> None:
    one = runner.invoke(app, ["tokenize", "-m", "openai:gpt-4o", "hi"], catch_exceptions=False)
    assert one.stdout == "1\n"
    assert " · 1 token · " in one.stderr
    two = runner.invoke(app, ["tokenize", "-m", "openai:gpt-4o", "hi there"], catch_exceptions=False)
    assert " · 2 tokens · " in two.stderr
