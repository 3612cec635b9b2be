"""How `llmctl complete` draws what its run came to: streamed text, JSONL records, a compare table, an estimate."""

from __future__ import annotations

from collections.abc import Sequence

from llmctl.cli.run_command import finish, perform
from llmctl.cli.run_render import compare_table, estimate_output
from llmctl.core.inputs import InputItem
from llmctl.core.output import Output
from llmctl.providers.base import ModelRef
from llmctl.run.outcome import BatchJob, Compare, Estimated, Mode, Plan, Single
from llmctl.run.session import RunOptions, Session


def show(out: Output, session: Session, items: Sequence[InputItem], plan: Plan, options: RunOptions,
         streaming: bool) -> None:
    """Run the session and draw its outcome. One answer streams when asked; with --json --stream,
    stdout is JSONL: `{"model", "delta"}` records as text arrives, then the full record."""
    wrote: list[str] = []

    def on_text(ref: ModelRef, delta: str) -> None:
        if not delta:
            return
        wrote.append(delta)
        if out.json_mode:
            out.record({"model": ref.label, "delta": delta})
        else:
            out.write(delta)

    if streaming and session.choose(items, plan, options) is Mode.SINGLE:
        options.on_text = on_text
    outcome = perform(out, session, items, plan, options)
    if isinstance(outcome, Estimated):
        estimate_output(out, outcome.estimates)
    elif isinstance(outcome, BatchJob):
        from llmctl.cli.batch import show_batch_job

        show_batch_job(out, outcome, options.output)
    elif isinstance(outcome, Single):
        _one(out, outcome, wrote)
    elif isinstance(outcome, Compare):
        if not out.json_mode:
            compare_table(out, outcome.records, items)
        finish(out, outcome.report)
    else:
        finish(out, outcome.report)


def _one(out: Output, outcome: Single, wrote: list[str]) -> None:
    record = next(iter(outcome.records.values()), None)
    if record is not None and record["error"] is not None:
        if wrote and not out.json_mode and not wrote[-1].endswith("\n"):
            # A cut stream: the error line must not be glued to the text already shown.
            out.write("\n")
        raise outcome.report.failures[-1]
    if record is not None:
        if out.json_mode:
            out.record(record)
        else:
            text = record["text"] or ""
            if not wrote:
                out.write(text)
            if not text.endswith("\n"):
                out.write("\n")
    finish(out, outcome.report)
