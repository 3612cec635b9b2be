"""What every command shares: the global state, the Output it writes through, and error reporting."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer

from llmctl.core.errors import LlmctlError, UsageError
from llmctl.core.output import Output

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class GlobalState:
    json_mode: bool = False
    quiet: bool = False
    verbose: bool = False
    table_format: str | None = None
    #: When the command line was taken up (time.perf_counter): the start of its wall time.
    started: float = field(default_factory=time.perf_counter)


def make_output(ctx: typer.Context | None, *, json_mode: bool = False, quiet: bool = False,
                verbose: bool = False, table_format: Any = None) -> Output:
    """Merge a command's own flags with the global ones (given before or after the command name)."""
    state = ctx.find_root().obj if ctx is not None else None
    if not isinstance(state, GlobalState):
        state = GlobalState()
    fmt = getattr(table_format, "value", table_format) or state.table_format or "auto"
    if fmt not in ("auto", "table", "tsv"):
        raise UsageError(f"--format must be table or tsv, not {fmt!r}")
    return Output(
        json_mode=json_mode or state.json_mode,
        quiet=quiet or state.quiet,
        verbose=verbose or state.verbose,
        table_format=fmt,  # type: ignore[arg-type]
        started=state.started,
    )


def report_error(message: str) -> None:
    sys.stderr.write(f"llmctl: error: {message}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    # The reader went away (`| head`); point stdout at /dev/null so the exit flush is quiet.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def guarded(fn: F) -> F:
    """Turn llmctl errors into one stderr line and the DESIGN.md exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except LlmctlError as exc:
            report_error(exc.one_line())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            report_error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(0) from None
        except Exception as exc:
            if os.environ.get("LLMCTL_DEBUG"):
                raise
            report_error(f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:300]} "
                         "(set LLMCTL_DEBUG=1 for the traceback)")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
