"""`llmctl batch list|status|fetch|cancel`, and how a `--batch-api` run is shown: provider batch jobs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import FormatOpt, JsonOpt, QuietOpt
from llmctl.core.errors import ProviderError, UsageError

if TYPE_CHECKING:
    from llmctl.core.output import Output
    from llmctl.run.outcome import BatchJob

batch_app = typer.Typer(help="Provider batch jobs: list, status, fetch, cancel.", no_args_is_help=True,
                        add_completion=False)
IdArg = Annotated[str, typer.Argument(help="The batch id that --batch-api printed.", show_default=False)]


def _write(out: Output, records: Sequence[dict[str, object]], output: str | None) -> None:
    if output is None:
        for record in records:
            out.record(dict(record))
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write: {exc.strerror}") from None


def _finish(out: Output, label: str, records: Sequence[dict[str, object]]) -> None:
    from decimal import Decimal

    from llmctl.core.usage import format_money

    failed = sum(1 for r in records if r.get("error"))
    costs = [cost.get("total") for r in records if isinstance(cost := r.get("cost"), dict)]
    total = None if any(c is None for c in costs) else sum((Decimal(str(c)) for c in costs), Decimal(0))
    out.summary(f"{label} · batch API · {len(records) - failed}/{len(records)} ok · {format_money(total)}")
    if failed:
        raise ProviderError(f"{failed} of {len(records)} records failed; see their `error` fields")


def show_batch_job(out: Output, job: BatchJob, output: str | None) -> None:
    """A --batch-api run's records, written like a live run's, then its summary line."""
    _write(out, job.records, output)
    _finish(out, job.label, job.records)


@batch_app.command("list")
@guarded
def batch_list(ctx: typer.Context, json_mode: JsonOpt = False, table_format: FormatOpt = None) -> None:
    """Batches submitted from here, with their status now."""
    from llmctl.run.batch_run import batch_rows

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    rows = batch_rows()
    if out.json_mode:
        for row in rows:
            out.record(row)
        return
    out.table(["id", "model", "command", "records", "status", "completed", "failed"],
              [list(row.values()) for row in rows], right_align=("records", "completed", "failed"))


@batch_app.command("status")
@guarded
def batch_status(ctx: typer.Context, batch_id: IdArg, json_mode: JsonOpt = False) -> None:
    """Where one batch is: queued, running, completed, failed, expired, cancelling, cancelled."""
    from llmctl.run import batch_run

    out = make_output(ctx, json_mode=json_mode)
    info, entry = batch_run.batch_status(batch_id)
    if out.json_mode:
        out.record({**info.to_json(), "model": entry["label"], "command": entry["command"]})
    else:
        out.line(f"{info.id}\t{info.status}\t{info.completed}/{info.total} done\t{info.failed} failed")


@batch_app.command("fetch")
@guarded
def batch_fetch(
    ctx: typer.Context,
    batch_id: IdArg,
    output: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--output", "-o", help="Write the records to this file instead of stdout.", show_default=False)] = None,
    quiet: QuietOpt = False,
) -> None:
    """A finished batch's results, as JSONL records in input order (the shape of a live run)."""
    from llmctl.run.batch_run import fetch_batch

    out = make_output(ctx, quiet=quiet)
    show_batch_job(out, fetch_batch(batch_id, out.warn), output)


@batch_app.command("cancel")
@guarded
def batch_cancel(ctx: typer.Context, batch_id: IdArg, quiet: QuietOpt = False) -> None:
    """Ask the provider to stop a batch; what finished before is still fetched."""
    from llmctl.run.batch_run import cancel_batch

    out = make_output(ctx, quiet=quiet)
    info = cancel_batch(batch_id)
    out.line(f"{info.id}\t{info.status}")
