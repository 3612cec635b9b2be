"""`--help` says what each option takes; bash completes `provider:model` names although `:` breaks its words."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from llmctl.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_every_option_says_what_it_takes() -> None:
    paths = _commands(typer.main.get_command(app))
    assert ("prices", "update") in paths and ("quantize",) in paths
    for path in paths:
        text = runner.invoke(app, [*path, "--help"]).stdout
        # Click's fallback shows the Python type (`--max-cost <str>`); only a choice's values may be in <>.
        bare = [m for m in re.findall(r"(-[\w-]+) <([^>]*)>", text) if "|" not in m[1]]
        assert bare == [], f"llmctl {' '.join(path)} --help"
    shown = " ".join(runner.invoke(app, ["complete", "--help"]).stdout.split())
    for option in ("-m, --model MODEL", "-f, --file PATH", "--jsonl PATH", "--max-cost USD", "--max-tokens N",
                   "--timeout SECONDS", "--base-url URL", "-t, --temperature FLOAT", "-o, --output PATH",
                   "--n-ctx TOKENS", "--format <table|tsv>"):
        assert option in shown
    assert "--from URL|FILE" in runner.invoke(app, ["prices", "update", "--help"]).stdout
    assert "--from PROFILE" in runner.invoke(app, ["models", "--help"]).stdout


def _bash_protocol(*words: str) -> list[str]:
    """What bash's completion function gets back: COMP_WORDS as bash split the line (`:` a word of its own)."""
    env = {**os.environ, "_LLMCTL_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(words),
           "COMP_CWORD": str(len(words) - 1), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "llmctl"], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_a_name_split_at_its_colon_completes_after_it() -> None:
    # `llmctl complete -m openai:gpt-4o-mi<TAB>`: bash replaces only what follows the colon.
    assert _bash_protocol("llmctl", "complete", "-m", "openai", ":", "gpt-4o-mi") == [
        "gpt-4o-mini", "gpt-4o-mini-2024-07-18"]
    # `-m openai:<TAB>`: the cursor is on the colon; every OpenAI model, each without the provider.
    after_colon = _bash_protocol("llmctl", "tokenize", "-m", "openai", ":")
    assert "gpt-4o-mini" in after_colon and not any(":" in name for name in after_colon)
    # An earlier name put back together: -m twice, the second still completes.
    assert _bash_protocol("llmctl", "complete", "-m", "openai", ":", "gpt-4o", "-m", "smol") == ["smollm2"]
    # Where `:` is no word break (COMP_WORDBREAKS changed), the whole word is replaced.
    assert "openai:gpt-4o-mini" in _bash_protocol("llmctl", "tokenize", "-m", "openai:gpt-4o")


def _bash_tab(line: str, bindir: Path, expect: str, timeout: float = 60) -> str:
    """Type `line` and a TAB into an interactive bash with llmctl's completion loaded; what the terminal shows."""
    master, slave = pty.openpty()
    env = {**os.environ, "PS1": "$ ", "TERM": "dumb", "PATH": f"{bindir}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "INPUTRC": "/dev/null"}
    proc = subprocess.Popen(["bash", "--norc", "--noprofile", "-i"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while marker not in seen and time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    return

    try:
        os.write(master, b'eval "$(_LLMCTL_COMPLETE=bash_source llmctl)"; echo LOADED\n')
        read_until(b"LOADED\r\n$ ")
        seen = b""
        os.write(master, line.encode() + b"\t")
        read_until(expect.encode())
        return seen.decode(errors="replace")
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_real_bash_completes_a_provider_model_name(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "llmctl"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m llmctl "$@"\n')
    launcher.chmod(0o755)
    shown = _bash_tab("llmctl complete -m openai:gpt-4o-mini-2", bindir, "llmctl complete -m openai:gpt-4o-mini-2024")
    assert "llmctl complete -m openai:gpt-4o-mini-2024-07-18 " in shown
