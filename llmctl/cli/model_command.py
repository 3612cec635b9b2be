"""One way to build a model command: the shared options declared once, attached to each command, handed over typed.

A model command declares only its own arguments and options, then `*, flags: ModelFlags`:

    @model_command(batch=True)
    def complete_command(ctx: typer.Context, prompt: ..., model: ModelOpt = None, ..., *,
                         flags: ModelFlags) -> None:
        session = flags.session(CompleteJob(...), names)

`model_command` appends the fields of `BackendFlags`, `RunFlags`, (`BatchFlags`,) and `OutputFlags`
to the command's signature, in that order, as Typer options, so Typer builds them like any other
parameter (`--help`, metavars, completion). When the command runs, their values are gathered into
one `ModelFlags` (with the Output already made) and the command gets that instead. Adding an option
every model command takes is one field in one of the groups below; an option of one command stays
in that command's signature. A task (`task=True`) also gets its TEXT, -m, --models-file, -f, --jsonl
and --field from here (`TaskInputs`), and hands everything to `cli.task_show.run_task`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmctl.cli.common import guarded, make_output
from llmctl.cli.options import (
    AllowPickleOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DeviceOpt,
    FieldOpt,
    FileOpt,
    FormatOpt,
    JsonlOpt,
    JsonOpt,
    MaxRetriesOpt,
    MaxWaitOpt,
    ModelOpt,
    NCtxOpt,
    NGpuLayersOpt,
    QuietOpt,
    RetryTimeoutsOpt,
    TaskTextArg,
    ThreadsOpt,
    TimeoutOpt,
    TrustRemoteCodeOpt,
    VerboseOpt,
)
from llmctl.cli.run_options import (
    BatchApiOpt,
    DedupeOpt,
    EstimateOpt,
    MaxCostOpt,
    ModelsFileOpt,
    NoCacheOpt,
    OrderedOpt,
    OutputFileOpt,
    PollIntervalOpt,
    ResumeOpt,
    RetryFailedOpt,
)
from llmctl.core.output import Output

if TYPE_CHECKING:
    from collections.abc import Sequence

    from llmctl.run.jobs import Job
    from llmctl.run.session import RunOptions, Session


@dataclass
class BackendFlags:
    """How to reach and open a model (every field but base_url goes to the provider's option model)."""

    base_url: BaseUrlOpt = None
    timeout: TimeoutOpt = None
    max_retries: MaxRetriesOpt = None
    max_wait: MaxWaitOpt = None
    retry_timeouts: RetryTimeoutsOpt = False
    concurrency: ConcurrencyOpt = None
    n_ctx: NCtxOpt = None
    threads: ThreadsOpt = None
    n_gpu_layers: NGpuLayersOpt = None
    device: DeviceOpt = None
    allow_pickle: AllowPickleOpt = False
    trust_remote_code: TrustRemoteCodeOpt = False


@dataclass
class RunFlags:
    """What the run layer does around the job: estimate, -o and resume, budget, cache."""

    estimate: EstimateOpt = False
    output: OutputFileOpt = None
    resume: ResumeOpt = False
    dedupe: DedupeOpt = False
    retry_failed: RetryFailedOpt = False
    ordered: OrderedOpt = None
    max_cost: MaxCostOpt = None
    no_cache: NoCacheOpt = False


@dataclass
class BatchFlags:
    """A provider's batch endpoint (commands whose job a batch can carry)."""

    batch_api: BatchApiOpt = False
    poll_interval: PollIntervalOpt = 30.0


@dataclass
class OutputFlags:
    json_mode: JsonOpt = False
    quiet: QuietOpt = False
    verbose: VerboseOpt = False
    table_format: FormatOpt = None


@dataclass
class TaskInputs:
    """A task's text and models (before its own options) and its files (after them)."""

    text: TaskTextArg = None
    model: ModelOpt = None
    models_file: ModelsFileOpt = None
    file: FileOpt = None
    jsonl: JsonlOpt = None
    field: FieldOpt = "text"


#: TaskInputs' fields that come before a task's own options; the rest come after them
_TASK_LEAD = ("text", "model", "models_file")


@dataclass
class ModelFlags:
    """Everything a model command takes besides its own options, with the Output made from them."""

    out: Output
    backend: BackendFlags
    run: RunFlags
    batch: BatchFlags
    #: a task command's inputs and models (see `model_command(task=True)`)
    inputs: TaskInputs | None = None

    def options(self) -> dict[str, Any]:
        """The backend options as the provider's option model takes them."""
        values = dataclasses.asdict(self.backend)
        values.pop("base_url")
        return {**values, "verbose": self.out.verbose}

    def run_options(self) -> RunOptions:
        from llmctl.cli.run_command import run_options

        run = self.run
        return run_options(self.out, concurrency=self.backend.concurrency or 4, max_cost=run.max_cost,
                           output=run.output, resume=run.resume, retry_failed=run.retry_failed, ordered=run.ordered,
                           no_cache=run.no_cache, dedupe=run.dedupe)

    def session(self, job: Job, names: Sequence[str]) -> Session:
        """The job on these models, opened with the backend options (exit 2 on a bad name)."""
        from llmctl.run.session import Session

        return Session(job, names, self.options(), self.backend.base_url)


@functools.cache
def _parameters(group: type, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None
                ) -> tuple[inspect.Parameter, ...]:
    """The group's fields as parameters (made once per group: every command shares them)."""
    hints = typing.get_type_hints(group, include_extras=True)
    return tuple(inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default,
                              annotation=hints[f.name])
            for f in dataclasses.fields(group) if f.name not in skip and (only is None or f.name in only))


def _take(group: type, values: dict[str, Any]) -> Any:
    return group(**{f.name: values.pop(f.name) for f in dataclasses.fields(group) if f.name in values})


def model_command(*, batch: bool = False, table_format: bool = True, task: bool = False
                  ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Attach the shared options to a command whose last parameter is `*, flags: ModelFlags`.

    `batch`: the command takes --batch-api and --poll-interval; `table_format`: it takes --format;
    `task`: the command is a task, whose TEXT, -m and --models-file come first, then its own
    options, then -f, --jsonl and --field (`flags.inputs`)."""
    groups: list[tuple[type, tuple[str, ...]]] = [(TaskInputs, _TASK_LEAD)] if task else []
    groups += [(BackendFlags, ()), (RunFlags, ())]
    if batch:
        groups.append((BatchFlags, ()))
    groups.append((OutputFlags, () if table_format else ("table_format",)))

    def attach(command: Callable[..., None]) -> Callable[..., None]:
        own = inspect.signature(command, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != "flags"]
        if task:
            params[1:1] = _parameters(TaskInputs, only=_TASK_LEAD)
        for group, skip in groups:
            params.extend(_parameters(group, skip))

        @functools.wraps(command)
        def run(*args: Any, **values: Any) -> None:
            shown = _take(OutputFlags, values)
            ctx = values.get("ctx", args[0] if args else None)
            out = make_output(ctx, json_mode=shown.json_mode, quiet=shown.quiet, verbose=shown.verbose,
                              table_format=shown.table_format)
            inputs = _take(TaskInputs, values) if task else None
            flags = ModelFlags(out, _take(BackendFlags, values), _take(RunFlags, values), _take(BatchFlags, values),
                               inputs)
            command(*args, **values, flags=flags)

        run.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        del run.__wrapped__  # Typer reads the signature above, not the command's own
        return guarded(run)

    return attach


__all__ = ["BackendFlags", "BatchFlags", "ModelFlags", "OutputFlags", "RunFlags", "TaskInputs", "model_command"]
