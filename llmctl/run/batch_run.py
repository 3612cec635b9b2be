"""Provider batch jobs from the run layer: `--batch-api` runs (under the same budget rules as a live run),
and list, status, fetch and cancel of the batches submitted from here."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from llmctl.core.errors import BudgetExceededError, ProviderError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.usage import format_money
from llmctl.run.outcome import BatchJob

if TYPE_CHECKING:
    from llmctl.run.batch_api import BatchClient, BatchInfo
    from llmctl.run.session import RunOptions, Session


def run_provider_batch(session: Session, items: Sequence[InputItem], options: RunOptions, poll_interval: float,
                       on_status: Callable[[str], None]) -> BatchJob:
    """Submit every input as one batch, wait for it, and fetch its records (logged once, at batch prices).

    The whole batch is paid for once submitted, so its worst case is reserved against --max-cost and
    [budget] before anything is uploaded: a batch that could cross a limit is exit 6, nothing sent."""
    from llmctl.run.batch_api import BatchClient, fetch_records, recall, remember
    from llmctl.run.outfile import drop_repeated_ids

    if len(session.targets) != 1:
        raise UsageError("--batch-api sends one model's batch; give one -m")
    if poll_interval <= 0:
        raise UsageError(f"--poll-interval must be more than 0, not {poll_interval}")
    dropped = drop_repeated_ids(items, dedupe=options.dedupe, warn=options.warn)
    items = [item for index, item in enumerate(items) if index not in dropped]
    bad = next((i for i in items if i.problem is not None), None)
    if bad is not None:
        raise UsageError(f"{bad.problem} (a provider batch is sent whole: fix the input first)")
    _reserve(session, items, options)
    target = session.targets[0]
    client = BatchClient(target.ref, target.provider)
    try:
        info = client.submit(session.job, items)
        remember(info, target.ref.label, target.ref, session.job, items)
        on_status(f"batch {info.id} submitted: {len(items)} requests to {target.ref.label}; waiting "
                  f"(Ctrl-C leaves it running; later: llmctl batch fetch {info.id})")
        seen: list[str] = []

        def status_changed(current: object) -> None:
            status = str(getattr(current, "status", ""))
            if not seen or seen[-1] != status:
                seen.append(status)
                on_status(f"batch {info.id}: {status}")

        done = client.wait(info.id, poll_interval, status_changed)
        records = fetch_records(client, recall(info.id), done, options.warn)
    finally:
        client.close()
    return BatchJob(info.id, target.ref.label, records)


def _reserve(session: Session, items: Sequence[InputItem], options: RunOptions) -> None:
    """Exit 6 before the upload when the batch's worst case (at live rates, which a batch never
    exceeds) could cross --max-cost or what is left of a [budget] limit."""
    from llmctl.run.usage_log import UsageLog, logging_enabled

    log = UsageLog(warn=options.warn) if logging_enabled() else None
    try:
        budget = session.budget_for(items, set(), log, options.max_cost, options.warn)
    finally:
        if log is not None:
            log.close()
    if budget is None:
        return
    label = session.targets[0].ref.label
    if budget.reserve(label, range(len(items))) is None:
        need = sum((budget.worst.get((label, i), Decimal(0)) for i in range(len(items))), Decimal(0))
        raise BudgetExceededError(f"the batch could cost up to {format_money(need)}, over the {budget.what} limit "
                                  f"of {format_money(budget.limit)}; nothing was sent")


@contextmanager
def _client_of(entry: dict[str, Any]) -> Iterator[BatchClient]:
    """A client for the model a remembered batch was sent to (the same endpoint, the same key)."""
    from llmctl.providers.registry import get_provider, resolve_model
    from llmctl.run.batch_api import BatchClient

    base_url = entry.get("base_url")
    ref = resolve_model(str(entry["model"]), base_url=str(base_url) if base_url else None)
    client = BatchClient(ref, get_provider(ref, {}))
    try:
        yield client
    finally:
        client.close()


def batch_rows() -> list[dict[str, Any]]:
    """Every batch submitted from here with its status now (`unknown (why)` where it cannot be asked)."""
    from llmctl.run.batch_api import known_batches

    rows = []
    for entry in known_batches():
        with _client_of(entry) as client:
            try:
                status = client.status(str(entry["id"])).to_json()
            except (ProviderError, UsageError) as exc:
                status = {"status": f"unknown ({exc.one_line()})", "total": "", "completed": "", "failed": ""}
        rows.append({"id": entry["id"], "model": entry["label"], "command": entry["command"],
                     "records": len(entry["inputs"]), **{k: status[k] for k in ("status", "completed", "failed")}})
    return rows


def batch_status(batch_id: str) -> tuple[BatchInfo, dict[str, Any]]:
    """Where one remembered batch is, and what was remembered of it."""
    from llmctl.run.batch_api import recall

    entry = recall(batch_id)
    with _client_of(entry) as client:
        return client.status(batch_id), entry


def fetch_batch(batch_id: str, warn: Callable[[str], None]) -> BatchJob:
    """A finished batch's records in input order (logged once, however often fetched)."""
    from llmctl.run.batch_api import fetch_records, recall

    entry = recall(batch_id)
    with _client_of(entry) as client:
        records = fetch_records(client, entry, client.status(batch_id), warn)
    return BatchJob(batch_id, str(entry["label"]), records)


def cancel_batch(batch_id: str) -> BatchInfo:
    """Ask the provider to stop a batch; the remembered status follows."""
    from llmctl.run.batch_api import recall, update

    with _client_of(recall(batch_id)) as client:
        info = client.cancel(batch_id)
    update(batch_id, status=info.status)
    return info
