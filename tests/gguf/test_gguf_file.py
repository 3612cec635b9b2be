"""The GGUF header check that runs before llama.cpp sees a file: real file, cut files, foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import UsageError
from llmctl.providers.gguf.file import GGML_BLOCK_SIZES, read_gguf_header

from .conftest import SMOLLM2

runner = CliRunner()


def test_block_sizes_agree_with_the_gguf_package() -> None:
    gguf = pytest.importorskip("gguf")
    theirs = {int(t): sizes for t, sizes in gguf.GGML_QUANT_SIZES.items()}
    for type_id, sizes in GGML_BLOCK_SIZES.items():
        assert theirs[type_id] == sizes, type_id


def test_header_of_the_real_file() -> None:
    header = read_gguf_header(SMOLLM2)
    assert header.version == 3
    assert header.tensor_count == 272
    assert header.architecture == "llama"
    assert header.context_length == 8192
    assert header.embedding_length == 576
    assert header.metadata["tokenizer.ggml.tokens"].length == 49152
    assert "<|im_start|>" in (header.chat_template or "")
    assert header.required_size == SMOLLM2.stat().st_size
    assert not header.is_embedding_only


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        read_gguf_header(tmp_path / "nope.gguf")
    assert err.value.message == f"{tmp_path / 'nope.gguf'}: no such file"


def test_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(UsageError) as err:
        read_gguf_header(path)
    assert err.value.message == f"{path}: not a GGUF file (it does not start with the GGUF magic bytes)"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(UsageError, match="not a GGUF file"):
        read_gguf_header(path)


def test_tensor_data_cut_short(truncated_gguf: Path) -> None:
    with pytest.raises(UsageError) as err:
        read_gguf_header(truncated_gguf)
    assert err.value.message == (f"{truncated_gguf}: truncated GGUF file: 4000000 bytes, "
                                 f"but its 272 tensors need {SMOLLM2.stat().st_size}")


def test_header_cut_short(header_cut_gguf: Path) -> None:
    with pytest.raises(UsageError) as err:
        read_gguf_header(header_cut_gguf)
    assert err.value.message == (f"{header_cut_gguf}: truncated GGUF file: the header runs past the end "
                                 "of the file (300000 bytes)")


def test_old_version(tmp_path: Path) -> None:
    path = tmp_path / "v1.gguf"
    path.write_bytes(b"GGUF" + (1).to_bytes(4, "little") + bytes(16))
    with pytest.raises(UsageError, match="GGUF version 1 is too old"):
        read_gguf_header(path)


@pytest.mark.parametrize("command", ["run-local", "complete", "embed", "tokenize"])
def test_cli_bad_files_exit_2_with_one_line(command: str, tmp_path: Path, truncated_gguf: Path) -> None:
    foreign = tmp_path / "notes.gguf"
    foreign.write_text("just some text\n")
    cases = {
        str(tmp_path / "missing.gguf"): f"llmctl: error: {tmp_path / 'missing.gguf'}: no such file\n",
        str(foreign): f"llmctl: error: {foreign}: not a GGUF file (it does not start with the GGUF magic bytes)\n",
        str(truncated_gguf): (f"llmctl: error: {truncated_gguf}: truncated GGUF file: 4000000 bytes, "
                              f"but its 272 tensors need {SMOLLM2.stat().st_size}\n"),
    }
    for path, line in cases.items():
        args = [command, path, "hello"] if command == "run-local" else [command, "-m", f"gguf:{path}", "hello"]
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 2, (command, path, result.output)
        assert result.stderr == line
        assert result.stdout == ""


def test_vocabularies_alike_at_the_start_are_each_read_in_full(tmp_path: Path) -> None:
    """A string array read before is recognised by its bytes: one that starts the same and has the
    same length but differs further on must still be parsed, and what follows it read right."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    def write(path: Path, last_token: str) -> None:
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_token_list([f"tok{i}" for i in range(4999)] + [last_token])
        writer.add_uint32("after.vocab", len(last_token))
        writer.add_tensor("w", np.zeros((4, 32), dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    short, long = tmp_path / "short.gguf", tmp_path / "long.gguf"
    last = "a much longer last token than the other file has"
    write(short, "x")
    write(long, last)
    for path, size in ((short, 1), (long, len(last)), (short, 1), (long, len(last))):
        header = read_gguf_header(path)
        assert header.metadata["tokenizer.ggml.tokens"].length == 5000
        assert header.metadata["after.vocab"] == size
        assert header.tensors == [("w", (32, 4), 0)]
