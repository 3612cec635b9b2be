"""Mistral's batch API (/v1/batch/jobs): the model goes on the job, counts are top-level fields."""

from __future__ import annotations

from typing import Any

from llmctl.providers.base import CompletionRequest, ModelRef
from llmctl.providers.batch_format import BatchCounts, BatchFormat


class MistralBatchFormat(BatchFormat):
    collection = "/batch/jobs"
    item = "/batch/jobs/{id}"
    list_params = {"page_size": 100}

    def line(self, custom_id: str, body: dict[str, Any], endpoint: str) -> dict[str, Any]:
        return {"custom_id": custom_id, "body": body}

    def create(self, file_id: str, endpoint: str, model: str, command: str) -> dict[str, Any]:
        return {"input_files": [file_id], "endpoint": endpoint, "model": model,
                "metadata": {"llmctl_command": command}}

    def input_files(self, raw: dict[str, Any]) -> list[Any]:
        return list(raw.get("input_files") or [])

    def counts(self, raw: dict[str, Any]) -> BatchCounts:
        return BatchCounts(raw.get("total_requests", 0), raw.get("succeeded_requests", 0),
                           raw.get("failed_requests", 0), raw.get("output_file"), raw.get("error_file"))

    def chat_body(self, ref: ModelRef, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": ref.model, "messages": request.messages()}
        for key, value in (("max_tokens", request.max_tokens), ("temperature", request.temperature),
                           ("top_p", request.top_p), ("random_seed", request.seed)):
            if value is not None:
                body[key] = value
        if request.stop:
            body["stop"] = list(request.stop)
        return body
