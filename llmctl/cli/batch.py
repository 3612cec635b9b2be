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


def _client(entry: dict[str, object]):  # type: ignore[no-untyped-def]
    from llmctl.providers.registry import get_provider, resolve_model
    from llmctl.run.batch_api import BatchClient

    base_url = entry.get("base_url")
    ref = resolve_model(str(entry["model"]), base_url=str(base_url) if base_url else None)
    return BatchClient(ref, get_provider(ref, {}))


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
    costs = [r["cost"].get("total") for r in records if isinstance(r.get("cost"), dict)]  # type: ignore[union-attr]
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
    from llmctl.run.batch_api import known_batches

    out = make_output(ctx, json_mode=json_mode, table_format=table_format)
    rows = []
    for entry in known_batches():
        client = _client(entry)
        try:
            status = client.status(str(entry["id"])).to_json()
        except (ProviderError, UsageError) as exc:
            status = {"status": f"unknown ({exc.one_line()})", "total": "", "completed": "", "failed": ""}
        finally:
            client.close()
        record = {"id": entry["id"], "model": entry["label"], "command": entry["command"],
                  "records": len(entry["inputs"]), **{k: status[k] for k in ("status", "completed", "failed")}}
        if out.json_mode:
            out.record(record)
        else:
            rows.append(list(record.values()))
    if not out.json_mode:
        out.table(["id", "model", "command", "records", "status", "completed", "failed"], rows,
                  right_align=("records", "completed", "failed"))


@batch_app.command("status")
@guarded
def batch_status(ctx: typer.Context, batch_id: IdArg, json_mode: JsonOpt = False) -> None:
    """Where one batch is: queued, running, completed, failed, expired, cancelling, cancelled."""
    from llmctl.run.batch_api import recall

    out = make_output(ctx, json_mode=json_mode)
    entry = recall(batch_id)
    client = _client(entry)
    try:
        info = client.status(batch_id)
    finally:
        client.close()
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
    from llmctl.run.batch_api import fetch_records, recall

    out = make_output(ctx, quiet=quiet)
    entry = recall(batch_id)
    client = _client(entry)
    try:
        records = fetch_records(client, entry, client.status(batch_id), out.warn)
    finally:
        client.close()
    _write(out, records, output)
    _finish(out, str(entry["label"]), records)


@batch_app.command("cancel")
@guarded
def batch_cancel(ctx: typer.Context, batch_id: IdArg, quiet: QuietOpt = False) -> None:
    """Ask the provider to stop a batch; what finished before is still fetched."""
    from llmctl.run.batch_api import recall, update

    out = make_output(ctx, quiet=quiet)
    client = _client(recall(batch_id))
    try:
        info = client.cancel(batch_id)
    finally:
        client.close()
    update(batch_id, status=info.status)
    out.line(f"{info.id}\t{info.status}")
