"""OpenAI's batch API (/v1/batches): a JSONL line names its method and URL; counts in `request_counts`."""

from __future__ import annotations

from typing import Any

from llmctl.providers.base import CompletionRequest, ModelRef
from llmctl.providers.batch_format import BatchCounts, BatchFormat


class OpenAIBatchFormat(BatchFormat):
    collection = "/batches"
    item = "/batches/{id}"
    list_params = {"limit": 100}

    def line(self, custom_id: str, body: dict[str, Any], endpoint: str) -> dict[str, Any]:
        return {"custom_id": custom_id, "body": body, "method": "POST", "url": endpoint}

    def create(self, file_id: str, endpoint: str, model: str, command: str) -> dict[str, Any]:
        return {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h",
                "metadata": {"llmctl_command": command}}

    def input_files(self, raw: dict[str, Any]) -> list[Any]:
        return [raw.get("input_file_id")]

    def counts(self, raw: dict[str, Any]) -> BatchCounts:
        counts = raw.get("request_counts") or {}
        return BatchCounts(counts.get("total", 0), counts.get("completed", 0), counts.get("failed", 0),
                           raw.get("output_file_id"), raw.get("error_file_id"))

    def chat_body(self, ref: ModelRef, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": ref.model, "messages": request.messages()}
        if request.max_tokens is not None:
            body["max_completion_tokens"] = request.max_tokens
        for key, value in (("temperature", request.temperature), ("top_p", request.top_p), ("seed", request.seed)):
            if value is not None:
                body[key] = value
        if request.stop:
            body["stop"] = list(request.stop)
        return body
