"""Input reading (args, stdin, files, JSONL) and the ordered concurrent batch runner."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest

from llmctl.core.batch import run_batch
from llmctl.core.errors import InputError
from llmctl.core.inputs import FinalNewlineStripped, collect_inputs, iter_jsonl


def test_args_then_files(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("from file")
    items = collect_inputs(["one", "two"], [str(f)])
    assert [(i.text, i.source) for i in items] == [("one", "<argument 1>"), ("two", "<argument 2>"),
                                                   ("from file", str(f))]
    assert collect_inputs(["tell", "me"], None, join_args=True)[0].text == "tell me"


def test_jsonl_carries_other_fields(tmp_path: Path) -> None:
    f = tmp_path / "docs.jsonl"
    f.write_text('{"id": 1, "body": "first"}\n\n{"id": "b", "body": "second", "tag": [1]}\n')
    items = list(iter_jsonl(str(f), "body"))
    assert [(i.text, i.fields, i.line) for i in items] == [("first", {"id": 1}, 1),
                                                           ("second", {"id": "b", "tag": [1]}, 3)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "ok"}\nnot json\n', "line 2: invalid JSON"),
        ('["a list"]\n', "line 1: each line must be a JSON object"),
        ('{"body": "x"}\n', "line 1: no field 'text' (choose one with --field)"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(content)
    with pytest.raises(InputError, match=f"^{re.escape(str(f))} {re.escape(message)}"):
        collect_inputs(None, None, str(f))


def test_bad_text_in_a_jsonl_record_is_that_records_problem(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text('{"text": 5}\n{"text": "ok"}\n{"text": null}\n{"text": ""}\n')
    items = collect_inputs(None, None, str(f))
    assert [i.problem for i in items] == [f"{f} line 1: field 'text' must be a string, not int", None,
                                          f"{f} line 3: field 'text' must be a string, not null",
                                          f"{f} line 4: empty input"]


def test_empty_and_whitespace_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="^<argument 1>: empty input$"):
        collect_inputs(["   "], None)
    empty = tmp_path / "e.txt"
    empty.write_text("")
    with pytest.raises(InputError, match=f"^{empty}: empty input$"):
        collect_inputs(None, [str(empty)])


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        collect_inputs(None, [str(tmp_path)])
    with pytest.raises(InputError, match="no such file"):
        collect_inputs(None, [str(tmp_path / "nope")])


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"text\n", b"text"), (b"text\r\n", b"text"), (b"text\n\n", b"text\n"), (b"text", b"text"), (b"", b"")],
)
def test_final_newline_stripped_reader(data: bytes, expected: bytes) -> None:
    for size in (1, 2, 3, 1024):
        reader = FinalNewlineStripped(io.BytesIO(data))
        out = b""
        while chunk := reader.read(size):
            out += chunk
        assert out == expected, size


def test_batch_results_in_input_order_with_concurrency() -> None:
    seen: list[tuple[int, int | None, str | None]] = []
    active = 0
    peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02 * (5 - n % 5))  # later items often finish first
        with lock:
            active -= 1
        if n == 7:
            raise ValueError("seven fails")
        return n * n

    run_batch(range(20), work, concurrency=4,
              on_result=lambda i, r, e: seen.append((i, r, str(e) if e else None)))
    assert [i for i, _, _ in seen] == list(range(20))
    assert seen[7] == (7, None, "seven fails")
    assert seen[3] == (3, 9, None)
    assert peak == 4


def test_batch_runs_in_parallel() -> None:
    started = time.perf_counter()
    run_batch(range(16), lambda n: time.sleep(0.1), concurrency=16, on_result=lambda *a: None)
    assert time.perf_counter() - started < 1.0  # 16 x 0.1 s in sequence would be 1.6 s
