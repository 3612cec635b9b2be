"""A new command plugs into the run layer by writing a Job: records, log, cache and resume come with it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from support.scripted_run import ScriptedProvider

from llmctl.core.errors import ProviderError
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


class _PaidFailure(ProviderError):
    """A failure after calls that were paid for (an answer that never validated, say)."""

    def __init__(self, usage: Any, calls: int) -> None:
        super().__init__("the answer never validated")
        self.usage = usage
        self.calls = calls


class StrictJob(Job):
    """Asks twice and gives up on texts with 'nope'; refuses models whose name says 'vec' in its own words."""

    command: ClassVar[str] = "strict"
    result_keys: ClassVar[tuple[str, ...]] = ("answer", "calls")

    def check(self, ref: ModelRef, provider: Provider) -> str:
        if "vec" in ref.model:
            from llmctl.core.errors import UsageError

            raise UsageError(f"{ref.label} cannot answer strictly")
        return super().check(ref, provider)

    def failed_fields(self, error: BaseException) -> dict[str, Any]:
        return {"calls": error.calls} if isinstance(error, _PaidFailure) else {}

    def run_one(self, ref: ModelRef, provider: Provider, text: str, on_text: Any) -> Outcome:
        first = provider.complete(ref, CompletionRequest(text, temperature=0))
        if "nope" not in text:
            return Outcome({"answer": first.text, "calls": 1}, first.usage)
        second = provider.complete(ref, CompletionRequest(text, temperature=0))
        raise _PaidFailure(first.usage + second.usage, 2)


def test_a_failure_that_was_paid_for_keeps_its_usage_and_cost(data_dir: Path) -> None:
    import pytest

    from llmctl.core.errors import UsageError

    with pytest.raises(UsageError, match="scripted:vec cannot answer strictly"):
        Session(StrictJob(), ["scripted:vec"], {})
    session = Session(StrictJob(), ["scripted:chat"], {})
    items = [InputItem("one two", "<test>", 1, {"id": 1}), InputItem("nope", "<test>", 2, {"id": 2})]
    records: list[dict[str, Any]] = []
    report = session.run(items, lambda item, index, record: records.append(record), RunOptions())
    ok, failed = records
    assert ok["answer"] == "ONE TWO" and ok["calls"] == 1 and ok["error"] is None
    # "nope": 1 word + 2 = 3 tokens in, 1 out, twice; at $1 a token in and $2 out: $10.
    assert failed["answer"] is None and failed["calls"] == 2 and failed["error"]["type"] == "_PaidFailure"
    assert failed["usage"]["input_tokens"] == 6 and failed["usage"]["output_tokens"] == 2
    assert failed["cost"]["total"] == 10
    assert report.totals.failed == 1
    db = sqlite3.connect(data_dir / "usage.db")
    rows = db.execute("SELECT input_tokens, output_tokens, cost, error_type FROM calls ORDER BY id").fetchall()
    db.close()
    assert rows == [(4, 2, "8", None), (6, 2, "10", "_PaidFailure")]
