"""What every command shares: the global state, the Output it writes through, and error reporting."""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer

from llmctl.core.errors import LlmctlError, UsageError, cause_chain
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


#: what a bug's one line ends with
BUG_HINT = "run with -v or set LLMCTL_DEBUG=1 for the traceback"


def _wants_detail(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """-v (the command's own or the global one) or LLMCTL_DEBUG: show causes and tracebacks."""
    if os.environ.get("LLMCTL_DEBUG") or kwargs.get("verbose") is True:
        return True
    # Typer hands over its bundled Click's Context, which typer.Context is a subclass of: duck-typed.
    ctx = next((arg for arg in (kwargs.get("ctx"), *args) if hasattr(arg, "find_root")), None)
    state = ctx.find_root().obj if ctx is not None else None
    return isinstance(state, GlobalState) and state.verbose


def _redacted(text: str) -> str:
    """`text` without any key this process holds in its environment, nor anything shaped like one."""
    from llmctl.core.http import redact

    names = ("KEY", "TOKEN", "SECRET", "PASSWORD")
    secrets = [value for name, value in os.environ.items()
               if any(part in name.upper() for part in names) and len(value.strip()) >= 6]
    return redact(text, sorted(secrets, key=len, reverse=True))


def _named(exc: BaseException) -> str:
    """`TypeError: ...`, `NetworkError: ...`, `openai.APIConnectionError: ...` (another package's class
    under that package's name)."""
    kind = type(exc)
    package = kind.__module__.split(".")[0]
    name = kind.__qualname__ if package in ("builtins", "llmctl") else f"{package}.{kind.__qualname__}"
    text = " ".join(str(exc).split())[:500]
    return f"{name}: {text}" if text else name


def cause_lines(exc: BaseException) -> list[str]:
    """One line per link of what led to `exc`, earliest first (as a traceback reads), keys redacted."""
    return [_redacted(f"cause: {_named(link)}") for link in reversed(cause_chain(exc))]


def traceback_text(exc: BaseException) -> str:
    """The traceback of `exc` and of every cause, earliest first, even those hidden by `from None`."""
    parts: list[str] = []
    for link in reversed([exc, *cause_chain(exc)]):
        if parts:
            parts.append("\nwhich led to:\n\n")
        parts.extend(traceback.format_exception(link, chain=False))
    return _redacted("".join(parts))


def report_bug(exc: BaseException, *, detail: bool) -> None:
    """A bug in llmctl: its traceback when asked for, then one line (exit 1 is the caller's)."""
    if detail:
        sys.stderr.write(traceback_text(exc))
    line = _redacted(f"this is a bug in llmctl: {_named(exc)[:300]}")
    report_error(line if detail else f"{line} ({BUG_HINT})")


def _silence_stdout() -> None:
    # The reader went away (`| head`); point stdout at /dev/null so the exit flush is quiet.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def guarded(fn: F) -> F:
    """Turn llmctl errors into one stderr line and the exit code their class carries (README: exit codes)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except LlmctlError as exc:
            detail = _wants_detail(args, kwargs)
            if detail and os.environ.get("LLMCTL_DEBUG"):
                sys.stderr.write(traceback_text(exc))
            if detail:
                # What led to the error first, so that its own line stays the last one.
                for line in cause_lines(exc):
                    sys.stderr.write(f"llmctl: {line}\n")
            report_error(exc.one_line())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            report_error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(0) from None
        except Exception as exc:
            report_bug(exc, detail=_wants_detail(args, kwargs))
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
