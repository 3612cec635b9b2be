"""The wheel carries the shipped configs and the console script."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_configs_and_entry_point(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("llmctl-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for config in ("models.toml", "prices.toml", "providers.toml"):
            assert f"llmctl/_configs/{config}" in names
            assert archive.read(f"llmctl/_configs/{config}") == (ROOT / "configs" / config).read_bytes()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "llmctl = llmctl.cli.app:main" in archive.read(entry_points).decode()


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "llmctl", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("llmctl ")
