"""The README's examples that run offline are run, so they stay true: exit 0, and the output its
comments promise (`# 9`, `# 1687 3974 ...`, `# ids -> text: We live in`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

#: Models that need no key and no network for each kind of command.
LOCAL = {"smollm2", "gguf:smollm2", "minilm", "default", "default-embed"}
TOKENIZE_OFFLINE = LOCAL | {"openai:gpt-4o", "openai:gpt-4o-mini", "openai:gpt-4", "openai:gpt-4.1-mini",
                            "mistral:mistral-small-latest", "mistral:mistral-large-latest"}
#: What a line needs that an offline test run does not have: files, servers, keys, a terminal.
NEEDS_MORE = (" -f ", "--jsonl", "...", "~", "$(", "pbcopy", "--base-url", "--serve", "--bench", "--from",
              "hf:", "> ",
              # a fetch from the network, a usage log with calls in it, a batch that was submitted,
              # a file written (never into the checkout), a model file named as a placeholder
              "prices update", "llmctl usage", "llmctl batch", " -o ", "model-f16.gguf",
              # stored conversations and templates: each example runs with an empty data and config dir
              "llmctl logs", "llmctl templates", " -c ", "--continue", "--template", "--save")


def _offline(command: str) -> bool:
    if "llmctl " not in command or any(mark in command for mark in NEEDS_MORE):
        return False
    if "jq" in command and shutil.which("jq") is None:
        return False
    words = command.split()
    verb = words[words.index("llmctl") + 1]
    models = set(re.findall(r"-m ([^\s]+)", command))
    allowed = TOKENIZE_OFFLINE if verb == "tokenize" else LOCAL
    if not models <= allowed:
        return False
    # run-local with no prompt and no pipe is the interactive chat.
    return not (verb == "run-local" and "|" not in command and '"' not in command)


def _examples() -> list[tuple[str, str]]:
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            command, _, comment = line.partition("  #")
            if _offline(command.strip()):
                found.append((command.strip(), comment.strip()))
    return found


EXAMPLES = _examples()


def test_the_offline_examples_are_found() -> None:
    verbs = {command.split("llmctl ")[1].split()[0] for command, _ in EXAMPLES}
    assert {"tokenize", "complete", "embed", "run-local", "models", "prices"} <= verbs


@pytest.fixture(scope="module")
def shell_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A PATH whose `llmctl` is this checkout's, as the README's shell lines call it."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "llmctl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m llmctl "$@"\n')
    shim.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
@pytest.mark.parametrize(("command", "comment"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example(command: str, comment: str, shell_env: dict[str, str]) -> None:
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **shell_env}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() or "select(.stale)" in command, proc.stderr
    if re.fullmatch(r"[\d ]+", comment):
        assert proc.stdout.split() == comment.split()
    if comment.startswith("ids -> text: "):
        assert proc.stdout.rstrip("\n") == comment.removeprefix("ids -> text: ")
    if "capital of France" in command:
        assert "Paris" in proc.stdout
    if "index(\"embed\")" in command:
        assert "minilm" in proc.stdout.split()


@pytest.mark.slow
def test_readme_python_api_example(shell_env: dict[str, str]) -> None:
    code = re.search(r"## Python API.*?```python\n(.*?)```", README, re.S)
    assert code is not None
    proc = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **shell_env}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    count, answer = proc.stdout.split("\n", 1)
    assert count == "6"  # tiktoken o200k_base: "How many tokens is this?"
    assert "Paris" in answer
