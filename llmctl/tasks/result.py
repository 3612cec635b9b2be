"""What a task returns for one input: the record's result fields, the usage of every call, the call count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmctl.core.errors import ProviderError
from llmctl.core.usage import Usage


@dataclass
class TaskResult:
    """`fields` go into the record beside `model`, `usage`, `cost` and `latency_ms`."""

    fields: dict[str, Any]
    usage: Usage = field(default_factory=lambda: Usage(0))
    calls: int = 0


class InvalidAnswerError(ProviderError):
    """The model kept answering something that does not validate; the record fails with `error`."""

    def __init__(self, message: str, usage: Usage, calls: int) -> None:
        super().__init__(message)
        self.usage = usage
        self.calls = calls
