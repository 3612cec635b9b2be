"""GGUF -> GGUF through llama.cpp's quantizer: every type, the refusals, fallbacks, Ctrl-C, the imatrix.

Outputs are checked with the `gguf` package's own reader, not with llmctl's."""

from __future__ import annotations

import json
import os
import signal
import stat
import struct
import subprocess
from pathlib import Path

import gguf
import numpy as np
import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import UsageError
from llmctl.quantize.gguf_quant import quantize_gguf
from llmctl.quantize.imatrix import load_imatrix
from llmctl.quantize.staging import Staging
from llmctl.quantize.types import GGML_TYPES, available_types, parse_types

from .conftest import PYTHON, ROOT, SMOLLM2

runner = CliRunner()
K_QUANTS = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}


def types_in(path: Path) -> dict[str, str]:
    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(path).tensors}


def test_type_table_matches_gguf_block_sizes() -> None:
    for type_id, (name, block, nbytes) in GGML_TYPES.items():
        qtype = gguf.GGMLQuantizationType(type_id)
        assert qtype.name.lower() == name.lower()
        assert gguf.GGML_QUANT_SIZES[qtype] == (block, nbytes)


def test_list_shows_every_offered_type() -> None:
    result = runner.invoke(app, ["quantize", "--list", "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["type"] for r in records] == [t.name for t in available_types()]
    q4km = next(r for r in records if r["type"] == "q4_k_m")
    assert q4km["block_size"] == 256 and q4km["bits_per_weight"] == 4.5 and not q4km["needs_imatrix"]
    assert next(r for r in records if r["type"] == "iq2_xxs")["needs_imatrix"] is True


def test_every_offered_type_quantizes(tiny_small_vocab: Path, tmp_path: Path) -> None:
    """Each type without an imatrix gives a file whose main tensors are of that type's tensor type."""
    for qtype in available_types():
        if qtype.needs_imatrix:
            continue
        out = tmp_path / f"{qtype.name}.gguf"
        result = quantize_gguf(tiny_small_vocab, out, qtype, threads=2)
        found = types_in(out)
        main = gguf.GGMLQuantizationType(qtype.ggml_type).name
        if qtype.name == "mxfp4_moe":
            main = "Q8_0"  # MXFP4 goes to expert tensors only; a dense model's matrices get q8_0
        assert found["blk.0.attn_q.weight"] == main, (qtype.name, found)
        assert result.output_bytes == out.stat().st_size
        assert result.fallback_tensors == 0


def test_quantize_cli_writes_file_and_record(tiny256: Path, tmp_path: Path) -> None:
    out = tmp_path / "q8.gguf"
    result = runner.invoke(app, ["quantize", str(tiny256), "-t", "q8_0", "-o", str(out), "--json", "--threads", "2"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["output_bytes"] == out.stat().st_size
    assert record["source_bytes"] == tiny256.stat().st_size
    assert record["compression"] == pytest.approx(tiny256.stat().st_size / out.stat().st_size, rel=1e-3)
    found = types_in(out)
    matrices = [n for n, t in found.items() if t != "F32"]
    assert matrices and all(found[n] == "Q8_0" for n in matrices)
    # bits per weight of the tensor data, recomputed from gguf's own tensor sizes
    tensors = gguf.GGUFReader(out).tensors
    assert record["bits_per_weight"] == pytest.approx(sum(int(t.n_bytes) for t in tensors) * 8
                                                      / sum(int(t.n_elements) for t in tensors), abs=1e-3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # an ordinary file, not a private temporary


def test_staging_hands_the_tool_a_new_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "m.gguf"
    staging = Staging(target)
    assert staging.folder.parent == tmp_path and staging.folder.name.startswith(".m.gguf.")
    assert not staging.file.exists()  # the tool creates it: a truncated file would be flushed on close
    staging.file.write_bytes(b"GGUF")
    staging.log.write_text("log")
    staging.commit()

    def left() -> list[str]:  # (the test's own xdg-config folder aside)
        return sorted(p.name for p in tmp_path.iterdir() if p.is_file() or p.name.startswith("."))

    assert target.read_bytes() == b"GGUF" and left() == ["m.gguf"]
    again = Staging(target)
    again.file.write_bytes(b"half")
    again.discard()
    assert target.read_bytes() == b"GGUF" and left() == ["m.gguf"]


def test_a_folder_it_cannot_write_in_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def refused(**_: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    with pytest.raises(UsageError, match=r"cannot write the output there \(Permission denied\)"):
        Staging(tmp_path / "m.gguf")


def test_fallback_tensors_are_counted(tiny64: Path, tmp_path: Path) -> None:
    """Rows of 64 do not fit 256-weight k-quant blocks: every matrix falls back, and the count says so."""
    out = tmp_path / "q4km.gguf"
    result = quantize_gguf(tiny64, out, parse_types("q4_k_m")[0], threads=2)
    found = types_in(out)
    # output.weight is not among them: for a width that is no multiple of 256 llama.cpp picks q8_0
    # for it outright, before the fallback rule.
    fell_back = [n for n, t in found.items() if t not in K_QUANTS and t != "F32" and n != "output.weight"]
    assert fell_back and result.fallback_tensors == len(fell_back)


def test_leave_output_tensor_keeps_it(tiny256: Path, tmp_path: Path) -> None:
    plain, kept = tmp_path / "plain.gguf", tmp_path / "kept.gguf"
    quantize_gguf(tiny256, plain, parse_types("q4_0")[0], threads=2)
    quantize_gguf(tiny256, kept, parse_types("q4_0")[0], threads=2, leave_output_tensor=True)
    assert types_in(plain)["output.weight"] != "F16"
    assert types_in(kept)["output.weight"] == "F16"


def test_refuses_quantized_source_unless_allowed(tmp_path: Path) -> None:
    out = tmp_path / "re.gguf"
    result = runner.invoke(app, ["quantize", str(SMOLLM2), "-t", "q4_0", "-o", str(out)])
    assert result.exit_code == 2
    assert "already quantized" in result.stderr and "--allow-requantize" in result.stderr
    assert not out.exists()


def test_existing_output_needs_force(tiny_small_vocab: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.gguf"
    out.write_text("keep me")
    result = runner.invoke(app, ["quantize", str(tiny_small_vocab), "-t", "q8_0", "-o", str(out)])
    assert result.exit_code == 2 and "--force" in result.stderr
    assert out.read_text() == "keep me"
    result = runner.invoke(app, ["quantize", str(tiny_small_vocab), "-t", "q8_0", "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"GGUF"


@pytest.mark.parametrize("cut", [300_000, 700_000])
def test_truncated_or_corrupt_source_exits_2(tiny_small_vocab: Path, tmp_path: Path, cut: int) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(tiny_small_vocab.read_bytes()[:cut])
    result = runner.invoke(app, ["quantize", str(bad), "-t", "q8_0", "-o", str(tmp_path / "o.gguf")])
    assert result.exit_code == 2
    assert "truncated" in result.stderr
    noise = tmp_path / "noise.gguf"
    noise.write_bytes(b"GGUF" + struct.pack("<I", 3) + os.urandom(4000))
    result = runner.invoke(app, ["quantize", str(noise), "-t", "q8_0", "-o", str(tmp_path / "o.gguf")])
    assert result.exit_code == 2
    assert not (tmp_path / "o.gguf").exists()


def test_free_disk_is_checked_first(tiny_small_vocab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(UsageError, match="not enough free disk"):
        quantize_gguf(tiny_small_vocab, folder / "o.gguf", parse_types("q8_0")[0])
    assert list(folder.iterdir()) == []


def test_bad_options_exit_2(tiny_small_vocab: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "o.gguf")
    cases = [
        (["-t", "q9_9"], "unknown quantization type"),
        (["-t", "q8_0", "--threads", "0"], "--threads"),
        (["-t", "iq2_xxs"], "--imatrix"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["quantize", str(tiny_small_vocab), "-o", out, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.stderr
    assert not Path(out).exists()


def _write_imatrix_gguf(path: Path, columns: dict[str, int]) -> None:
    writer = gguf.GGUFWriter(str(path), "imatrix")
    writer.add_string("general.type", "imatrix")
    rng = np.random.default_rng(0)
    for name, n in columns.items():
        writer.add_tensor(f"{name}.in_sum2", (rng.random((1, n)) * 10 + 1).astype(np.float32))
        writer.add_tensor(f"{name}.counts", np.array([[5.0]], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _write_imatrix_dat(path: Path, values: dict[str, np.ndarray], calls: int) -> None:
    with path.open("wb") as fh:
        fh.write(struct.pack("<i", len(values)))
        for name, vals in values.items():
            raw = name.encode()
            fh.write(struct.pack("<i", len(raw)) + raw + struct.pack("<ii", calls, len(vals)))
            fh.write((vals * calls).astype("<f4").tobytes())


def test_imatrix_formats_and_iq2(tiny_small_vocab: Path, tmp_path: Path) -> None:
    matrices = {t.name: int(t.shape[0]) for t in gguf.GGUFReader(tiny_small_vocab).tensors if len(t.shape) == 2}
    gguf_file = tmp_path / "imatrix.gguf"
    _write_imatrix_gguf(gguf_file, matrices)
    sums = {t.name: np.asarray(t.data).reshape(-1) for t in gguf.GGUFReader(gguf_file).tensors}
    loaded = load_imatrix(gguf_file)
    name = "blk.0.attn_q.weight"
    np.testing.assert_allclose(loaded[name], sums[f"{name}.in_sum2"] / 5.0, rtol=1e-6)
    dat = tmp_path / "imatrix.dat"
    _write_imatrix_dat(dat, {k: v for k, v in loaded.items()}, calls=7)
    np.testing.assert_allclose(load_imatrix(dat)[name], loaded[name], rtol=1e-5)

    out = tmp_path / "iq2.gguf"
    result = runner.invoke(app, ["quantize", str(tiny_small_vocab), "-t", "iq2_xxs", "-o", str(out),
                                 "--imatrix", str(dat), "--json"])
    assert result.exit_code == 0, result.output
    assert types_in(out)["blk.0.attn_q.weight"] == "IQ2_XXS"


def test_ctrl_c_exits_130_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "big.gguf"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([PYTHON, "-m", "llmctl", "quantize", str(SMOLLM2), "-t", "q4_k_m", "--allow-requantize",
                             "-o", str(out), "--threads", "1"], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the first progress line: the child is writing the file now
    assert "q4_k_m" in first
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(folder.iterdir()) == []


def test_several_types_make_one_tsv_table(tiny_small_vocab: Path, tmp_path: Path) -> None:
    out = tmp_path / "quants"
    result = runner.invoke(app, ["quantize", str(tiny_small_vocab), "-t", "q8_0,q4_0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    header, source, *rows = lines
    assert header[:5] == ["type", "size_mib", "bits_per_weight", "compression", "fallback_tensors"]
    assert source[0] == "(source)" and [r[0] for r in rows] == ["q8_0", "q4_0"]
    for row in rows:
        written = Path(row[header.index("output")])
        assert written.parent == out
        assert float(row[1]) == pytest.approx(written.stat().st_size / 2**20, abs=0.06)
    assert float(rows[0][2]) > float(rows[1][2])  # q8_0 spends more bits per weight than q4_0


def test_forked_and_spawned_workers_write_the_same_file(tiny_small_vocab: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl.quantize import quant_worker

    outputs = []
    for fork in (True, False):
        monkeypatch.setattr(quant_worker, "fork_is_safe", lambda fork=fork: fork)
        out = tmp_path / f"fork-{fork}.gguf"
        result = quantize_gguf(tiny_small_vocab, out, parse_types("q4_k_m")[0], threads=1)
        outputs.append((out.read_bytes(), result.fallback_tensors, result.tensor_types))
    assert outputs[0] == outputs[1]


def test_tensor_table_matches_gguf_reader(tiny256: Path, tmp_path: Path) -> None:
    """The one-pass header reader lists every tensor as gguf's own reader does (name, shape, type)."""
    from llmctl.quantize.tensors import read_tensor_table

    out = tmp_path / "q4.gguf"
    quantize_gguf(tiny256, out, parse_types("q4_0")[0], threads=2)
    for path in (SMOLLM2, tiny256, out):
        ours = [(t.name, t.shape, t.type_id) for t in read_tensor_table(path).tensors]
        theirs = [(t.name, tuple(int(d) for d in t.shape), int(t.tensor_type)) for t in gguf.GGUFReader(path).tensors]
        assert ours == theirs


def test_progress_reports_first_and_last_tensor_in_order(tiny256: Path, tmp_path: Path) -> None:
    events: list[tuple[int, int, str]] = []
    quantize_gguf(tiny256, tmp_path / "q8.gguf", parse_types("q8_0")[0], threads=2,
                  on_progress=lambda done, total, name: events.append((done, total, name)))
    count = len(gguf.GGUFReader(tiny256).tensors)
    assert events[0][0] == 1 and events[-1][:2] == (count, count)
    assert [e[0] for e in events] == sorted({e[0] for e in events})
    assert {e[2] for e in events} <= {t.name for t in gguf.GGUFReader(tiny256).tensors}


def test_float_types_parse_without_llama_cpp_and_agree_with_it() -> None:
    """f32/f16/bf16 are known without importing llama_cpp (a conversion to them never needs it),
    and they are the very types llama-cpp-python offers."""
    code = ("import sys; from llmctl.quantize.types import parse_types; "
            "print([t.name for t in parse_types('f16, bf16,f32')], 'llama_cpp' in sys.modules)")
    done = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split("]")[1].strip() == "False"
    offered = {t.name: t for t in available_types()}
    assert parse_types("f16,bf16,f32") == [offered["f16"], offered["bf16"], offered["f32"]]


def test_missing_source_is_one_plain_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    result = runner.invoke(app, ["quantize", str(missing), "-t", "q4_0", "-o", str(tmp_path / "out.gguf")])
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {missing}: no such file or folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xdg-config"]
