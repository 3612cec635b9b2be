"""What every model command does with the run layer: pick models, run, print records or a table."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from llmctl.cli.run_render import ProgressBar, summary_lines
from llmctl.core.errors import LlmctlError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.output import Output
from llmctl.providers.base import ModelRef
from llmctl.providers.registry import default_model_name
from llmctl.run.budget import parse_max_cost
from llmctl.run.outcome import Mode, Outcome, Plan
from llmctl.run.runner import RecordSink, Report
from llmctl.run.session import RunOptions, Session, read_models_file


def model_names(models: Sequence[str] | None, models_file: str | None, purpose: str) -> list[str]:
    """-m (repeatable) and --models-file together; neither: the default model."""
    names = list(models or [])
    if models_file:
        names += read_models_file(models_file)
    return names or [default_model_name(purpose=purpose)]


def run_options(out: Output, *, concurrency: int, max_cost: str | None, output: str | None, resume: bool,
                retry_failed: bool, ordered: bool | None, no_cache: bool, dedupe: bool = False) -> RunOptions:
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {concurrency}")

    showing = threading.Lock()

    @contextmanager
    def loading(ref: ModelRef) -> Iterator[None]:
        # Models load at once in compare mode; a terminal shows one spinner at a time.
        if not showing.acquire(blocking=False):
            yield
            return
        try:
            with out.spinner(f"loading {ref.label}"):
                yield
        finally:
            showing.release()

    return RunOptions(concurrency=concurrency, max_cost=parse_max_cost(max_cost), output=output, resume=resume,
                      retry_failed=retry_failed, dedupe=dedupe, ordered=ordered, use_cache=not no_cache, warn=out.warn,
                      on_load=loading)


def show_provider_warnings(out: Output, session: Session) -> None:
    for target in session.targets:
        for message in target.provider.drain_warnings():
            out.warn(message)


@contextmanager
def live_records(out: Output, session: Session, items: Sequence[InputItem], options: RunOptions, *,
                 print_records: bool = True,
                 shape: Callable[[InputItem, int, dict[str, Any]], dict[str, Any]] | None = None
                 ) -> Iterator[RecordSink]:
    """A sink that shows records as JSONL on stdout as they finish (none with -o: the file has them),
    with a progress bar on a terminal."""
    bar = ProgressBar(out, len(items) * len(session.targets))
    to_stdout = print_records and not options.output

    def on_record(item: InputItem, index: int, record: dict[str, Any]) -> None:
        bar.advance(record)
        if to_stdout:
            out.record(shape(item, index, record) if shape else record)

    with bar.shown():
        yield on_record
    show_provider_warnings(out, session)


def perform(out: Output, session: Session, items: Sequence[InputItem], plan: Plan, options: RunOptions, *,
            print_records: bool = True,
            shape: Callable[[InputItem, int, dict[str, Any]], dict[str, Any]] | None = None) -> Outcome:
    """`Session.perform`, with the records of a batch (and of a compare with --json) shown as they come."""
    mode = session.choose(items, plan, options)
    if mode in (Mode.BATCH, Mode.COMPARE):
        printing = print_records and (mode is Mode.BATCH or out.json_mode)
        with live_records(out, session, items, options, print_records=printing, shape=shape) as sink:
            return session.perform(items, plan, options, on_record=sink)
    outcome = session.perform(items, plan, options, on_status=out.info)
    if mode is Mode.SINGLE:
        show_provider_warnings(out, session)
    return outcome


#: with -v, the causes of at most this many distinct record errors are shown
CAUSES_SHOWN = 5


def show_failure_causes(out: Output, failures: Sequence[BaseException]) -> None:
    """With -v, what led to each distinct record error (a record keeps only the error's own message)."""
    from llmctl.cli.common import cause_lines

    seen: set[tuple[str, ...]] = set()
    for exc in failures:
        causes = cause_lines(exc)
        message = exc.one_line() if isinstance(exc, LlmctlError) else str(exc)
        key = (message, *causes)
        if not causes or key in seen:
            continue
        if len(seen) == CAUSES_SHOWN:
            out.debug("(more record errors had causes; the first ones are above)")
            return
        seen.add(key)
        for line in causes:
            out.debug(line)
        out.debug(f"which led to a record's error: {message}")


def finish(out: Output, report: Report) -> None:
    """The closing summary lines, then exit 6 (budget) or 4 (failed records) where due."""
    if out.verbose:
        show_failure_causes(out, report.failures)
    summary_lines(out, report)
    report.raise_for_failures()
