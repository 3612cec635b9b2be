"""The repository stands on its own: no file points at a document outside it, and the paths
ARCHITECTURE.md and the package READMEs name are real."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Documents that were never part of the repository; naming one leaves a reader with a dead end.
OUTSIDE = ("DESIGN" + ".md", "STYLE" + ".md", "/work/" + "shared")
#: `llmctl/run/session.py`, `tests/support/`, `benchmarks/bench_tokenize.py`, `providers/openai/tokens.py`
PATH = re.compile(r"`((?:llmctl|tests|benchmarks|configs|providers|run|core|cli|tasks|tokencount)/[\w./-]*)`")


def _project_files() -> list[Path]:
    found = []
    for pattern in ("*.py", "*.md", "*.toml"):
        for path in ROOT.rglob(pattern):
            parts = path.relative_to(ROOT).parts
            if parts[0] in {".venv", ".git", "build", "dist"} or "data" in parts[:2]:
                continue
            found.append(path)
    return found


def test_no_file_points_at_a_document_outside_the_repository() -> None:
    named = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in _project_files()
             for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if any(name in line for name in OUTSIDE)]
    assert named == []


def test_the_paths_the_architecture_names_exist() -> None:
    missing = []
    for doc in (ROOT / "ARCHITECTURE.md", ROOT / "llmctl" / "tokencount" / "README.md"):
        for name in PATH.findall(doc.read_text(encoding="utf-8")):
            name = name.split("::")[0].rstrip(".")
            if "<" in name or "*" in name:
                continue
            if not _exists(name):
                missing.append(f"{doc.name}: {name}")
    assert missing == []


def _exists(name: str) -> bool:
    """A file or folder, a module without its `.py`, or `module.name` defined in that module; a short
    path (`run/budget.py`) is relative to the package."""
    for base in (ROOT, ROOT / "llmctl"):
        if (base / name).exists() or (base / f"{name}.py").exists():
            return True
        module, _, attribute = name.rpartition(".")
        source = base / f"{module}.py"
        if module and source.is_file():
            return re.search(rf"^(?:class|def) {re.escape(attribute)}\b", source.read_text(), re.M) is not None
    return False
