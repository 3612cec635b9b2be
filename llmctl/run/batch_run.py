"""`--batch-api`: a session's inputs sent as one provider batch job, under the same budget rules as a live run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from llmctl.core.errors import BudgetExceededError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.usage import format_money
from llmctl.run.outcome import BatchJob

if TYPE_CHECKING:
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
