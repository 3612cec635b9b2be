"""The error tree; every error carries its exit code (the table in the README's "Output, exit codes, money").

    LlmctlError                      exit 1 (a bug: shown with the LLMCTL_DEBUG hint)
    ├── UsageError                   exit 2 (bad option, unknown model, unsupported option)
    │   └── InputError               exit 2 (empty input, unreadable file, bad UTF-8, bad JSONL)
    ├── ConfigError                  exit 3 (broken config, missing key)
    │   └── AuthError                exit 3 (401/403 from a provider)
    ├── ProviderError                exit 4 (the provider failed after retries)
    │   ├── NetworkError             exit 4 (timeout, connection refused, stream cut)
    │   └── RateLimitError           exit 4 (429 after retries)
    ├── MissingDependencyError       exit 5 (an optional extra is not installed)
    ├── BudgetExceededError          exit 6 (--max-cost)
    └── Interrupted                  exit 130

Lower-level errors are re-raised as ours with `raise OurError(...) from exc`. Where a message says
all a user needs, `from None` keeps the low-level cause out of the one-line error; it is still the
error's `__context__`, and `cause_chain` walks both links, so `--verbose` and `LLMCTL_DEBUG=1` show it.
Any other exception reaching the top is a bug in llmctl (exit 1), never a provider's failure.
"""

from __future__ import annotations


class LlmctlError(Exception):
    """Base of every error llmctl raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


class UsageError(LlmctlError):
    exit_code = 2


class InputError(UsageError):
    exit_code = 2


class ConfigError(LlmctlError):
    exit_code = 3


class AuthError(ConfigError):
    exit_code = 3


class ProviderError(LlmctlError):
    exit_code = 4

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class NetworkError(ProviderError):
    pass


class RateLimitError(ProviderError):
    pass


class MissingDependencyError(LlmctlError):
    exit_code = 5

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} is not installed; run: pip install 'llmctl[{extra}]'")
        self.extra = extra


class BudgetExceededError(LlmctlError):
    exit_code = 6


class Interrupted(LlmctlError):
    exit_code = 130


def cause_chain(exc: BaseException) -> list[BaseException]:
    """What led to `exc`, nearest first: each link's `__cause__`, else its `__context__` (which
    `raise ... from None` hides from Python's traceback but keeps)."""
    chain: list[BaseException] = []
    seen = {id(exc)}
    link = exc.__cause__ or exc.__context__
    while link is not None and id(link) not in seen:
        chain.append(link)
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return chain
