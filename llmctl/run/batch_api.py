"""Provider batch endpoints (OpenAI /v1/batches, Mistral /v1/batch/jobs): upload, create, poll, fetch, cancel.

A submitted batch is remembered in `$XDG_DATA_HOME/llmctl/batches/ID.json` (the model, the
command and the carried input fields of each request), so `llmctl batch fetch ID` can turn the
provider's output file into records of the same shape as a live run, priced at batch rates.
A batch is created once: where the creation fails without a clear answer (a timeout, a dropped
connection, a 5xx), the provider's batch list is searched for the uploaded input file instead of
creating a second batch, which would be billed again.
"""

from __future__ import annotations

import builtins  # the class has a method named list
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmctl.core.config import get_config, user_data_dir
from llmctl.core.errors import ProviderError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.pricing import PriceTable
from llmctl.core.usage import Usage
from llmctl.providers.base import ModelRef, Provider
from llmctl.run.jobs import CompleteJob, EmbedJob, Job

#: provider status -> ours (queued, running, completed, failed, expired, cancelling, cancelled)
STATUS = {
    "validating": "queued", "in_progress": "running", "finalizing": "running", "completed": "completed",
    "failed": "failed", "expired": "expired", "cancelling": "cancelling", "cancelled": "cancelled",
    "QUEUED": "queued", "RUNNING": "running", "SUCCESS": "completed", "FAILED": "failed",
    "TIMEOUT_EXCEEDED": "expired", "CANCELLATION_REQUESTED": "cancelling", "CANCELLED": "cancelled",
}
DONE = frozenset({"completed", "failed", "expired", "cancelled"})
#: What a batch id may look like to become a file name: OpenAI's `batch_...`, Mistral's UUIDs.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")


def batches_dir() -> Path:
    return user_data_dir() / "batches"


@dataclass
class BatchInfo:
    id: str
    status: str
    total: int
    completed: int
    failed: int
    output_file: str | None
    error_file: str | None
    raw_status: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "provider_status": self.raw_status, "total": self.total,
                "completed": self.completed, "failed": self.failed}


class BatchClient:
    """One provider's batch endpoints, over the same HTTP client, key and retries as its live calls."""

    def __init__(self, ref: ModelRef, provider: Provider) -> None:
        found = provider.batch_format()
        if found is None:
            raise UsageError(f"--batch-api works with models whose provider has a batch API, not {ref.label}")
        from llmctl.core.http import client_options, make_client

        self.ref = ref
        self.provider = provider
        self.format = found
        creds = provider.credentials()  # type: ignore[attr-defined]
        base = str(provider.base_url).rstrip("/")  # type: ignore[attr-defined]
        self.base = base if base.endswith("/v1") else base + "/v1"
        # The same key guard as live calls: the key goes only to the host it belongs to.
        self.http = make_client(secrets=provider.secrets(), key_header=provider.key_header(creds),  # type: ignore[attr-defined]
                                **client_options(dict(provider.options)))

    def close(self) -> None:
        self.http.close()

    def _redact(self, text: str) -> str:
        from llmctl.core.http import redact

        return redact(text, self.provider.secrets())  # type: ignore[attr-defined]

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx2

        try:
            response = self.http.request(method, f"{self.base}{path}", **kwargs)
        except httpx2.HTTPError as exc:  # the network's failures; anything else is a bug, not the provider's
            raise ProviderError(f"{self.ref.label} batch API: {type(exc).__name__}: "
                                f"{self._redact(str(exc))}") from None
        if response.status_code >= 400:
            detail = self._redact(" ".join(response.text.split()))[:300]
            if response.status_code in (401, 403):
                from llmctl.core.errors import AuthError

                raise AuthError(f"{self.ref.label} batch API refused the key (HTTP {response.status_code})")
            raise ProviderError(f"{self.ref.label} batch API: HTTP {response.status_code}: {detail}",
                                status=response.status_code)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, **kwargs)
        try:
            found: dict[str, Any] = response.json()
        except ValueError:
            raise ProviderError(f"{self.ref.label} batch API: the answer to {path} was not JSON") from None
        return found

    # ------------------------------------------------------------------ requests
    def _paths(self) -> tuple[str, str]:
        return self.format.collection, self.format.item

    def submit(self, job: Job, items: Sequence[InputItem]) -> BatchInfo:
        endpoint = "/v1/embeddings" if isinstance(job, EmbedJob) else "/v1/chat/completions"
        lines = []
        for index, item in enumerate(items):
            body = request_body(self.ref, self.provider, job, item.text)
            lines.append(json.dumps(self.format.line(str(index), body, endpoint), ensure_ascii=False))
        content = ("\n".join(lines) + "\n").encode("utf-8")
        uploaded = self._json("POST", "/files", data={"purpose": "batch"},
                              files={"file": ("llmctl-batch.jsonl", content, "application/jsonl")})
        create = self.format.create(uploaded["id"], endpoint, self.ref.model, job.command)
        try:
            created = self._json("POST", self._paths()[0], json=create)
        except ProviderError as exc:
            if exc.status is not None and exc.status < 500 and exc.status not in (408, 409):
                raise  # refused: no batch was made
            return self._created_before(uploaded["id"], exc)
        return self._info(created)

    def _created_before(self, file_id: str, failure: ProviderError) -> BatchInfo:
        """The batch an unanswered creation made, found by its input file; never a second one."""
        try:
            found = self.find_by_input_file(file_id)
        except ProviderError as exc:
            raise ProviderError(f"{failure.message}; the batch may exist, and looking it up failed too "
                                f"({exc.message})", hint=f"look for input file {file_id} in the provider's "
                                "batch list before submitting again") from exc
        if found is None:
            raise ProviderError(f"{failure.message}; no batch for input file {file_id} was created, "
                                "so nothing is billed", hint="submit again") from failure
        return found

    def find_by_input_file(self, file_id: str) -> BatchInfo | None:
        """The newest batch made from this uploaded file, from the provider's list (newest first)."""
        for raw in self._json("GET", self._paths()[0], params=self.format.list_params).get("data") or []:
            if not isinstance(raw, dict):
                continue
            if file_id in self.format.input_files(raw):
                return self._info(raw)
        return None

    def status(self, batch_id: str) -> BatchInfo:
        return self._info(self._json("GET", self._paths()[1].format(id=batch_id)))

    def cancel(self, batch_id: str) -> BatchInfo:
        return self._info(self._json("POST", self._paths()[1].format(id=batch_id) + "/cancel"))

    def list(self) -> list[BatchInfo]:
        found = self._json("GET", self._paths()[0])
        return [self._info(entry) for entry in found.get("data", [])]

    def file_lines(self, file_id: str | None) -> builtins.list[dict[str, Any]]:
        if not file_id:
            return []
        text = self._send("GET", f"/files/{file_id}/content").text
        lines = []
        for number, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    raise ProviderError(f"{self.ref.label} batch output line {number} is not JSON") from None
        return lines

    def _info(self, raw: dict[str, Any]) -> BatchInfo:
        batch_id = raw.get("id")
        if not isinstance(batch_id, str) or not _SAFE_ID.fullmatch(batch_id):
            # The id becomes a file name and a URL path: `../x` or `a/b` would reach elsewhere.
            shown = self._redact(repr(batch_id)[:80])
            raise ProviderError(f"{self.ref.label} batch API answered with batch id {shown}, which is not a "
                                "plain name (letters, digits, - and _); it is not used")
        status = str(raw.get("status", ""))
        counts = self.format.counts(raw)
        return BatchInfo(raw["id"], STATUS.get(status, status), counts.total, counts.completed, counts.failed,
                         counts.output_file, counts.error_file, status)

    def wait(self, batch_id: str, interval: float, on_status: Callable[[BatchInfo], None]) -> BatchInfo:
        while True:
            info = self.status(batch_id)
            on_status(info)
            if info.status in DONE:
                return info
            time.sleep(interval)


def request_body(ref: ModelRef, provider: Provider, job: Job, text: str) -> dict[str, Any]:
    """One request of the batch, as the provider's live endpoint takes it."""
    if isinstance(job, EmbedJob):
        body: dict[str, Any] = {"model": ref.model, "input": text}
        if job.dimensions is not None:
            body["dimensions"] = job.dimensions
        return body
    if not isinstance(job, CompleteJob):
        raise UsageError(f"--batch-api does not support `llmctl {job.command}`")
    features = job.features
    if features.schema is not None or features.attachments or features.tools:
        # A batch line is one request: no schema retry, no tool rounds; attachments are not laid out there.
        raise UsageError("--batch-api does not send --schema, attachments or tools; run the job live")
    request = job.request_for(ref, provider, text, False)
    if request.top_k is not None or request.repeat_penalty is not None:
        raise UsageError(f"--top-k and --repeat-penalty are not supported by the {ref.provider} batch API")
    found = provider.batch_format()
    if found is None:
        raise UsageError(f"--batch-api: the {ref.provider} provider has no batch API")
    return found.chat_body(ref, request)


# ---------------------------------------------------------------------- the local registry
def _entry_path(batch_id: str) -> Path:
    """The registry file of a batch; an id that is not a plain name (`/`, `..`, ...) has none."""
    if not _SAFE_ID.fullmatch(batch_id):
        raise UsageError(f"batch id {batch_id[:80]!r} is not a plain name (letters, digits, - and _); "
                         "it is not kept")
    return batches_dir() / f"{batch_id}.json"


def _write_entry(path: Path, entry: dict[str, Any]) -> None:
    """Write whole or not at all: a crash mid-write leaves the old entry, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(json.dumps(entry, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def remember(info: BatchInfo, name: str, ref: ModelRef, job: Job, items: Sequence[InputItem]) -> None:
    path = _entry_path(info.id)
    entry = {"id": info.id, "model": name, "label": ref.label, "base_url": ref.settings.base_url,
             "command": job.command,
             "settings": job.settings(), "submitted": time.time(), "status": info.status, "logged": False,
             "inputs": [item.fields for item in items]}
    _write_entry(path, entry)


def recall(batch_id: str) -> dict[str, Any]:
    path = batches_dir() / f"{batch_id}.json"
    if not _SAFE_ID.fullmatch(batch_id) or not path.is_file():
        raise UsageError(f"no batch {batch_id!r} was submitted from here (see `llmctl batch list`)")
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def update(batch_id: str, **changes: Any) -> None:
    entry = recall(batch_id)
    entry.update(changes)
    _write_entry(_entry_path(batch_id), entry)


def known_batches() -> list[dict[str, Any]]:
    folder = batches_dir()
    if not folder.is_dir():
        return []
    entries = [json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")]
    return sorted(entries, key=lambda e: e.get("submitted", 0))


# ---------------------------------------------------------------------- results as records
def _error_of(line: dict[str, Any], secrets: Sequence[str]) -> dict[str, str] | None:
    """A failed line's error, its message with every key (and anything shaped like one) redacted."""
    from llmctl.core.http import redact

    response = line.get("response") or {}
    if line.get("error"):
        error = line["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        return {"type": "ProviderError", "message": redact(str(message), secrets)}
    status = response.get("status_code", 200)
    if status >= 400:
        body = response.get("body") or {}
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else json.dumps(body)[:300]
        return {"type": "RateLimitError" if status == 429 else "ProviderError",
                "message": redact(f"HTTP {status}: {message}", secrets)}
    return None


def records_of(entry: dict[str, Any], ref: ModelRef, lines: list[dict[str, Any]],
               secrets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The provider's output and error lines as llmctl records, in input order, at batch prices."""
    prices = PriceTable(get_config())
    price = prices.find(ref.provider, ref.model, ref.settings)
    # Where prices.toml lists no batch rates for the model, the live rates are charged and the
    # record says `"batch": false`.
    batch_rates = price is not None and price.batch_input is not None
    embed = entry["command"] == "embed"
    by_index: dict[int, dict[str, Any]] = {}
    for line in lines:
        try:
            index = int(line["custom_id"])
        except (KeyError, ValueError):
            continue
        fields = entry["inputs"][index] if index < len(entry["inputs"]) else {}
        record: dict[str, Any] = {**fields, "model": entry["label"]}
        error = _error_of(line, secrets)
        body = ((line.get("response") or {}).get("body")) or {}
        if error is None:
            try:
                raw = body.get("usage") or {}
                usage = Usage(int(raw.get("prompt_tokens", 0)), int(raw.get("completion_tokens", 0) or 0))
                if embed:
                    vector = body["data"][0]["embedding"]
                    record.update(dimensions=len(vector), embedding=vector)
                else:
                    choice = body["choices"][0]
                    record.update(text=choice["message"]["content"] or "", finish_reason=choice.get("finish_reason"))
            except (KeyError, IndexError, TypeError) as exc:
                error = {"type": "ProviderError", "message": f"unexpected batch output ({type(exc).__name__})"}
        if error is None:
            cost = prices.cost_for(ref.provider, ref.model, ref.settings, usage, batch=True)
            record.update(usage=usage.to_json(), cost={**cost.to_json(), "batch": batch_rates}, latency_ms=None,
                          error=None)
        else:
            keys = ("dimensions", "embedding") if embed else ("text", "finish_reason")
            record.update({k: None for k in keys})
            record.update(usage=None, cost=None, latency_ms=None, error=error)
        by_index[index] = record
    missing = [i for i in range(len(entry["inputs"])) if i not in by_index]
    for index in missing:
        keys = ("dimensions", "embedding") if embed else ("text", "finish_reason")
        by_index[index] = {**entry["inputs"][index], "model": entry["label"], **{k: None for k in keys},
                           "usage": None, "cost": None, "latency_ms": None,
                           "error": {"type": "ProviderError", "message": "the batch returned no result for it"}}
    return [by_index[i] for i in sorted(by_index)]


def log_records(entry: dict[str, Any], ref: ModelRef, records: list[dict[str, Any]],
                warn: Callable[[str], None]) -> None:
    """Each fetched result is one call in the usage log, once, however often the batch is fetched."""
    from llmctl.run.usage_log import UsageLog, logging_enabled

    if entry.get("logged") or not logging_enabled():
        return
    from llmctl.core.usage import Cost

    log = UsageLog(warn=warn)
    try:
        for record in records:
            usage = record.get("usage")
            cost = record.get("cost")
            as_usage = Usage(usage["input_tokens"], usage["output_tokens"]) if usage else None
            as_cost = None
            if cost is not None and cost.get("total") is not None:
                from decimal import Decimal

                as_cost = Cost(Decimal(str(cost["input"])), Decimal(str(cost["output"])), cost["currency"])
            error = record.get("error")
            log.record_call(entry["command"], ref, as_usage, as_cost, None,
                            error_type=error["type"] if error else None)
    finally:
        log.close()
    update(entry["id"], logged=True)


def fetch_records(client: BatchClient, entry: dict[str, Any], info: BatchInfo,
                  warn: Callable[[str], None]) -> list[dict[str, Any]]:
    """A finished batch's results as records (logged once); an unfinished one is a usage error."""
    if info.status not in DONE:
        raise UsageError(f"batch {info.id} is {info.status} ({info.completed}/{info.total} done); "
                         "fetch it when it has finished")
    lines = client.file_lines(info.output_file) + client.file_lines(info.error_file)
    records = records_of(entry, client.ref, lines, client.provider.secrets())  # type: ignore[attr-defined]
    log_records(entry, client.ref, records, warn)
    update(info.id, status=info.status)
    return records
