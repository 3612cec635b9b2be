"""What a provider's batch API looks like on the wire, so the run layer drives every one the same way.

`llmctl.run.batch_api.BatchClient` uploads a JSONL file, creates a batch, polls it and reads its
output over the provider's own HTTP client; a hosted provider with a batch API returns one of
these from `Provider.batch_format()` to say where the endpoints are and how the bodies are shaped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from llmctl.providers.base import CompletionRequest, ModelRef


@dataclass(frozen=True)
class BatchCounts:
    """A batch's progress and files, as the provider's batch object says."""

    total: int
    completed: int
    failed: int
    output_file: str | None
    error_file: str | None


class BatchFormat(ABC):
    """One provider's batch endpoints and bodies (paths are relative to the API's /v1)."""

    #: the batch list (POST creates one there) and one batch (`{id}`)
    collection: str
    item: str
    #: the query of the batch list, newest first
    list_params: dict[str, Any]

    @abstractmethod
    def line(self, custom_id: str, body: dict[str, Any], endpoint: str) -> dict[str, Any]:
        """One line of the uploaded JSONL file."""

    @abstractmethod
    def create(self, file_id: str, endpoint: str, model: str, command: str) -> dict[str, Any]:
        """The body that creates a batch from an uploaded file."""

    @abstractmethod
    def input_files(self, raw: dict[str, Any]) -> list[Any]:
        """The uploaded files a listed batch was made from."""

    @abstractmethod
    def counts(self, raw: dict[str, Any]) -> BatchCounts: ...

    @abstractmethod
    def chat_body(self, ref: ModelRef, request: CompletionRequest) -> dict[str, Any]:
        """One chat request of the batch, as the provider's live endpoint takes it."""
