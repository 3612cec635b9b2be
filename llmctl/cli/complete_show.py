"""How `llmctl complete` shows a run: streamed text, JSONL records, a compare table, an estimate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmctl.cli.run_command import finish, run_batch_records, show_estimate, show_provider_warnings
from llmctl.cli.run_render import compare_table
from llmctl.core.inputs import InputItem
from llmctl.core.output import Output
from llmctl.providers.base import ModelRef
from llmctl.run.session import RunOptions, Session

estimate = show_estimate


def one(out: Output, session: Session, item: InputItem, options: RunOptions, streaming: bool) -> None:
    """One prompt, one model: text on stdout (streamed when asked), or one JSON record.

    With --json --stream, stdout is JSONL: `{"model", "delta"}` records as text arrives, then
    the full record.
    """
    wrote: list[str] = []

    def on_text(ref: ModelRef, delta: str) -> None:
        if not delta:
            return
        wrote.append(delta)
        if out.json_mode:
            out.record({"model": ref.label, "delta": delta})
        else:
            out.write(delta)

    if streaming:
        options.on_text = on_text
    records: list[dict[str, Any]] = []
    report = session.run([item], lambda _item, _index, record: records.append(record), options)
    show_provider_warnings(out, session)
    if records and records[0]["error"] is not None:
        if wrote and not out.json_mode and not wrote[-1].endswith("\n"):
            # A cut stream: the error line must not be glued to the text already shown.
            out.write("\n")
        raise report.failures[-1]
    if records:
        record = records[0]
        if out.json_mode:
            out.record(record)
        else:
            text = record["text"] or ""
            if not wrote:
                out.write(text)
            if not text.endswith("\n"):
                out.write("\n")
    finish(out, report)


def compare(out: Output, session: Session, items: Sequence[InputItem], options: RunOptions) -> None:
    """Several models at once: JSONL records as they finish with --json, else one table at the end."""
    if out.json_mode:
        report, _ = run_batch_records(out, session, items, options)
        finish(out, report)
        return
    report, kept = run_batch_records(out, session, items, options, print_records=False)
    order = {label: i for i, label in enumerate(session.labels)}
    kept.sort(key=lambda pair: (pair[0], order[pair[1]["model"]]))
    compare_table(out, kept, items)
    finish(out, report)


def batch(out: Output, session: Session, items: Sequence[InputItem], options: RunOptions) -> None:
    report, _ = run_batch_records(out, session, items, options)
    finish(out, report)
