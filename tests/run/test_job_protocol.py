"""A new command plugs into the run layer by writing a Job: records, log, cache and resume come with it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from scripted_run import ScriptedProvider

from llmctl.core.inputs import InputItem
from llmctl.providers.base import CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.run import Estimate, Job, Outcome, RunOptions, Session


class LabelJob(Job):
    """A toy classifier: asks the model, keeps the first word of its answer as `label`."""

    command: ClassVar[str] = "label"
    result_keys: ClassVar[tuple[str, ...]] = ("label",)

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels

    def settings(self) -> dict[str, Any]:
        return {"labels": self.labels}

    def cacheable(self) -> bool:
        return True

    def run_one(self, ref: ModelRef, provider: Provider, text: str, on_text: Any) -> Outcome:
        completion = provider.complete(ref, CompletionRequest(f"{text} ({'/'.join(self.labels)})", temperature=0))
        return Outcome({"label": completion.text.split()[0].lower()}, completion.usage)

    def estimate(self, ref: ModelRef, provider: Provider, tokenizer: Tokenizer, text: str) -> Estimate:
        return Estimate(tokenizer.count(text) + 1, 1)


def _items(n: int) -> list[InputItem]:
    return [InputItem(f"good{i} news", "<test>", i + 1, {"id": i}) for i in range(n)]


def test_a_new_job_gets_records_log_cache_and_resume(tmp_path: Path, data_dir: Path) -> None:
    session = Session(LabelJob(["good", "bad"]), ["scripted:chat", "scripted:slow-50"], {})
    records: list[dict[str, Any]] = []
    out = tmp_path / "labels.jsonl"
    report = session.run(_items(3), lambda item, index, record: records.append(record),
                         RunOptions(output=str(out)))
    assert report.totals.failed == 0 and len(records) == 6
    assert {(r["id"], r["model"], r["label"]) for r in records} == {
        (i, m, f"good{i}") for i in range(3) for m in ("scripted:chat", "scripted:slow-50")}
    assert all(r["cost"]["currency"] == "USD" and r["usage"]["input_tokens"] > 0 for r in records)
    # Estimate without sending.
    estimates = session.estimate(_items(3))
    assert [e.input_tokens for e in estimates] == [9, 9]
    # The log knows the command.
    db = sqlite3.connect(data_dir / "usage.db")
    assert db.execute("SELECT command, COUNT(*) FROM calls GROUP BY command").fetchall() == [("label", 6)]
    db.close()
    # Resume: nothing left to send; the file keeps one record per (model, id).
    calls = len(ScriptedProvider.calls)
    session.run(_items(3), lambda *_: None, RunOptions(output=str(out), resume=True))
    assert len(ScriptedProvider.calls) == calls
    assert len(out.read_text().splitlines()) == 6
    # The same question again is answered from the cache.
    again: list[dict[str, Any]] = []
    session.run(_items(1), lambda item, index, record: again.append(record), RunOptions())
    assert len(ScriptedProvider.calls) == calls and all(r["cached"] for r in again)
    description = json.loads((tmp_path / "labels.jsonl.run.json").read_text())
    assert description["command"] == "label" and description["settings"] == {"labels": ["good", "bad"]}
