"""--batch-api and `llmctl batch`, against a loopback server with the files and batches endpoints."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from support.batch_server import BatchServer
from support.scripted_run import run

from llmctl.core.config import get_config
from llmctl.core.pricing import PriceTable


@pytest.fixture
def server() -> Iterator[BatchServer]:
    found = BatchServer()
    yield found
    found.close()


def _prompts(tmp_path: Path, texts: list[str]) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def _batch_price(provider: str, model: str) -> tuple[Decimal, Decimal, bool]:
    """The batch rates from configs/prices.toml; the live rates where it lists none."""
    price = PriceTable(get_config()).lookup(provider, model)
    assert price is not None and price.input is not None and price.output is not None
    if price.batch_input is None or price.batch_output is None:
        return price.input, price.output, False
    return price.batch_input, price.batch_output, True


@pytest.mark.parametrize(("model", "provider", "name"), [("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
                                                         ("mistral:mistral-small-latest", "mistral",
                                                          "mistral-small-latest")])
def test_batch_api_run_gives_live_shaped_records_at_batch_prices(server: BatchServer, tmp_path: Path, model: str,
                                                                 provider: str, name: str, data_dir: Path,
                                                                 scripted_backend) -> None:
    # A custom endpoint is priced only when its profile names the price table it stands for.
    scripted_backend(f'[profiles.batches]\nkind = "{provider}"\nbase_url = "{server.base_url}"\n'
                     f'prices = "{provider}"\n')
    model = f"batches:{name}"
    prompts = _prompts(tmp_path, ["frogs sing", "please FAIL this", "at night"])
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", model,
                 "--jsonl", str(prompts), "--seed", "7", "--max-tokens", "20")
    assert result.exit_code == 4, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == ["q0", "q1", "q2"]
    assert [r["text"] for r in records] == ["FROGS SING", None, "AT NIGHT"]
    assert records[1]["error"]["message"].startswith("HTTP 400: Invalid request")
    assert records[0]["model"] == model
    rate_in, rate_out, batch_rates = _batch_price(provider, name)
    usage = records[0]["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (2 + 7, 2)
    expected = (Decimal(9) * rate_in + Decimal(2) * rate_out) / Decimal(1_000_000)
    assert Decimal(str(records[0]["cost"]["total"])) == expected
    assert records[0]["cost"]["batch"] is batch_rates
    # What went over the wire: one upload, one batch of three requests.
    lines = [json.loads(line) for line in server.uploads[0]["content"].decode().splitlines()]
    assert server.uploads[0]["purpose"] == "batch" and [line["custom_id"] for line in lines] == ["0", "1", "2"]
    body = lines[0]["body"]
    assert body["messages"][-1] == {"role": "user", "content": "frogs sing"}
    created = server.created[0]
    assert created["endpoint"] == "/v1/chat/completions"
    if provider == "openai":
        assert lines[0]["url"] == "/v1/chat/completions" and lines[0]["method"] == "POST"
        assert body["seed"] == 7 and body["max_completion_tokens"] == 20 and created["completion_window"] == "24h"
    else:
        assert body["random_seed"] == 7 and body["max_tokens"] == 20 and created["model"] == name
    assert "batch " in result.stderr and "submitted: 3 requests" in result.stderr
    db = sqlite3.connect(data_dir / "usage.db")
    assert db.execute("SELECT COUNT(*), SUM(error_type IS NOT NULL) FROM calls").fetchone() == (3, 1)
    db.close()


def test_embed_through_the_batch_api(server: BatchServer, tmp_path: Path) -> None:
    result = run("embed", "--batch-api", "--poll-interval", "0.01", "-m", "openai:text-embedding-3-small",
                 "--base-url", server.base_url, "--jsonl", str(_prompts(tmp_path, ["king", "queen bee"])))
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["embedding"] for r in records] == [[4.0, 1.0], [9.0, 1.0]]
    assert server.created[0]["endpoint"] == "/v1/embeddings"


def test_status_cancel_fetch_and_list(server: BatchServer, tmp_path: Path, data_dir: Path) -> None:
    from llmctl.core.inputs import collect_inputs
    from llmctl.providers.base import CompletionRequest
    from llmctl.providers.registry import get_provider, resolve_model
    from llmctl.run import CompleteJob
    from llmctl.run.batch_api import BatchClient, remember

    ref = resolve_model("openai:gpt-4o-mini", base_url=server.base_url)
    client = BatchClient(ref, get_provider(ref, {}))
    job = CompleteJob(CompletionRequest(""))
    items = collect_inputs(None, None, str(_prompts(tmp_path, ["one", "two"])))
    info = client.submit(job, items)
    remember(info, ref.label, ref, job, items)
    client.close()
    assert info.status == "queued"

    early = run("batch", "fetch", info.id)
    assert early.exit_code == 2
    assert early.stderr == (f"llmctl: error: batch {info.id} is running (0/2 done); "
                            "fetch it when it has finished\n")
    status = json.loads(run("batch", "status", info.id, "--json").stdout)
    assert status["status"] == "running" and status["provider_status"] == "finalizing"
    cancelled = run("batch", "cancel", info.id)
    assert cancelled.exit_code == 0 and cancelled.stdout == f"{info.id}\tcancelling\n"
    listed = [json.loads(line) for line in run("batch", "list", "--json").stdout.splitlines()]
    assert [(b["id"], b["status"], b["records"]) for b in listed] == [(info.id, "cancelled", 2)]
    out = tmp_path / "answers.jsonl"
    fetched = run("batch", "fetch", info.id, "-o", str(out))
    assert fetched.exit_code == 4  # cancelled before anything ran: every record says so
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["q0", "q1"]
    assert all(r["error"]["message"] == "the batch returned no result for it" for r in records)


def test_fetch_twice_logs_once(server: BatchServer, tmp_path: Path, data_dir: Path) -> None:
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "openai:gpt-4o-mini",
                 "--base-url", server.base_url, "--jsonl", str(_prompts(tmp_path, ["a b"])))
    assert result.exit_code == 0, result.stderr
    batch_id = result.stderr.split("batch ", 1)[1].split(" ", 1)[0]
    again = run("batch", "fetch", batch_id)
    assert again.stdout == result.stdout
    db = sqlite3.connect(data_dir / "usage.db")
    assert db.execute("SELECT COUNT(*) FROM calls").fetchone() == (1,)
    db.close()


def test_batch_api_refuses_local_models_and_unknown_ids(tmp_path: Path) -> None:
    result = run("complete", "--batch-api", "-m", "scripted:chat", "hi")
    assert result.exit_code == 2
    assert result.stderr == ("llmctl: error: --batch-api works with models whose provider has a batch API, "
                             "not scripted:chat\n")
    missing = run("batch", "status", "batch_nope")
    assert missing.exit_code == 2
    assert missing.stderr == ("llmctl: error: no batch 'batch_nope' was submitted from here "
                              "(see `llmctl batch list`)\n")


# ------------------------------------------------------------------ never billed twice, never written elsewhere
@pytest.mark.parametrize("kind", ["openai", "mistral"])
@pytest.mark.parametrize("fault", ["drop", "500"])
def test_an_unanswered_batch_creation_finds_its_batch_instead_of_making_another(
        server: BatchServer, tmp_path: Path, scripted_backend, kind: str, fault: str) -> None:
    scripted_backend(f'[profiles.batches]\nkind = "{kind}"\nbase_url = "{server.base_url}"\n')
    if fault == "drop":
        server.drop_creates = 1
    else:
        server.create_status = 500
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:m",
                 "--jsonl", str(_prompts(tmp_path, ["frogs sing", "at night"])))
    assert result.exit_code == 0, result.stderr
    assert len(server.created) == 1  # one batch, billed once
    collection = "/batches" if kind == "openai" else "/batch/jobs"
    assert server.requests[:3] == [("POST", "/files"), ("POST", collection), ("GET", collection)]
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["FROGS SING", "AT NIGHT"]
    batch_id = next(iter(server.batches))
    assert f"batch {batch_id} submitted" in result.stderr


def test_a_creation_that_made_nothing_says_so(server: BatchServer, tmp_path: Path, scripted_backend,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    scripted_backend(f'[profiles.batches]\nkind = "openai"\nbase_url = "{server.base_url}"\n')
    server.drop_creates = 1
    real_create = server.create

    def forget(kind: str, body: dict) -> dict:  # type: ignore[type-arg]
        made = real_create(kind, body)
        server.batches[made["id"]]["_input"] = "file-other"  # the list will not show it for our file
        return made

    monkeypatch.setattr(server, "create", forget)
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:m", "hi")
    assert result.exit_code == 4
    file_id = next(iter(server.files))
    assert result.stderr.endswith(f"; no batch for input file {file_id} was created, so nothing is billed "
                                  "(submit again)\n")
    assert result.stderr.startswith("llmctl: error: batches:m batch API: RemoteProtocolError: ")
    assert server.requests == [("POST", "/files"), ("POST", "/batches"), ("GET", "/batches")]


def test_an_unanswered_upload_is_not_sent_again(server: BatchServer, tmp_path: Path, scripted_backend) -> None:
    scripted_backend(f'[profiles.batches]\nkind = "openai"\nbase_url = "{server.base_url}"\n')
    server.drop_uploads = 1
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:m", "hi")
    assert result.exit_code == 4
    assert result.stderr.startswith("llmctl: error: batches:m batch API: RemoteProtocolError: ")
    assert len(server.uploads) == 1 and server.created == []


@pytest.mark.parametrize("bad_id", ["../../escaped", "a/b", "..", ""])
def test_a_batch_id_that_is_not_a_plain_name_is_not_used(server: BatchServer, tmp_path: Path, data_dir: Path,
                                                         bad_id: str) -> None:
    server.next_id = bad_id
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "openai:gpt-4o-mini",
                 "--base-url", server.base_url, "hi")
    assert result.exit_code == 4
    assert result.stderr == (f"llmctl: error: openai:gpt-4o-mini batch API answered with batch id {bad_id!r}, "
                             "which is not a plain name (letters, digits, - and _); it is not used\n")
    assert sorted(p.name for p in tmp_path.rglob("*.json")) == []  # nothing written, inside or out
    assert ("GET", f"/batches/{bad_id}") not in server.requests


def test_recall_refuses_ids_with_path_characters(tmp_path: Path, data_dir: Path) -> None:
    outside = data_dir / "secret.json"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text(json.dumps({"id": "x", "model": "openai:gpt-4o-mini"}))
    result = run("batch", "status", "../secret")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: no batch '../secret' was submitted from here (see `llmctl batch list`)\n"


def test_a_failed_registry_write_keeps_the_old_entry(server: BatchServer, tmp_path: Path, data_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl.run import batch_api

    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "openai:gpt-4o-mini",
                 "--base-url", server.base_url, "hi")
    assert result.exit_code == 0, result.stderr
    batch_id = next(iter(server.batches))
    path = data_dir / "batches" / f"{batch_id}.json"
    before = path.read_bytes()
    real_write = Path.write_text

    def disk_full(self: Path, data: str, *args: object, **kwargs: object) -> int:
        real_write(self, data[: len(data) // 2], *args, **kwargs)  # type: ignore[arg-type]
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched, pytest.raises(OSError):
        patched.setattr(Path, "write_text", disk_full)
        batch_api.update(batch_id, status="expired")
    assert path.read_bytes() == before
    assert batch_api.recall(batch_id)["status"] == "completed"


def test_batch_errors_never_show_a_key(server: BatchServer, tmp_path: Path, scripted_backend,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-batch-0123456789abcdefXYZ"
    monkeypatch.setenv("BATCH_KEY", key)
    scripted_backend(f'[profiles.batches]\nkind = "openai"\nbase_url = "{server.base_url}"\nkey_env = "BATCH_KEY"\n')
    prompts = _prompts(tmp_path, ["frogs sing", "please FAIL this"])
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:m", "--jsonl", str(prompts))
    assert result.exit_code == 4
    failed = json.loads(result.stdout.splitlines()[1])["error"]["message"]
    assert failed == "HTTP 400: Invalid request: the content was rejected; the key was [redacted]"
    assert key not in result.stdout + result.stderr
    server.refuse = True
    refused = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:m", "hi")
    assert refused.exit_code == 4
    assert refused.stderr.startswith("llmctl: error: batches:m batch API: HTTP 400: ")
    assert "Bad request from [redacted]" in refused.stderr and key not in refused.stderr


def _estimated_worst(model: str, prompts: Path) -> Decimal:
    """What a live run of the same job would reserve: `--estimate`'s most it may cost."""
    estimate = run("complete", "--estimate", "--json", "-m", model, "--jsonl", str(prompts), "--max-tokens", "20")
    assert estimate.exit_code == 0, estimate.stderr
    return Decimal(str(json.loads(estimate.stdout)["cost"]["max"]))


@pytest.mark.heavy  # a dozen runs against the batch server, polling (about 9 s)
def test_batch_api_reserves_the_batch_under_max_cost_before_sending(server: BatchServer, tmp_path: Path,
                                                                   scripted_backend) -> None:
    scripted_backend(f'[profiles.batches]\nkind = "openai"\nbase_url = "{server.base_url}"\nprices = "openai"\n')
    prompts = _prompts(tmp_path, ["frogs sing", "at night", "in the pond"])
    worst = _estimated_worst("batches:gpt-4o-mini", prompts)
    assert worst > 0
    args = ["complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:gpt-4o-mini", "--jsonl",
            str(prompts), "--max-tokens", "20", "--max-cost"]
    limit = worst * Decimal("0.99")
    refused = run(*args, str(limit))
    assert refused.exit_code == 6, refused.stderr
    assert refused.stderr == (f"llmctl: error: the batch could cost up to ${worst.normalize():f}, over the "
                              f"--max-cost limit of ${limit.normalize():f}; nothing was sent\n")
    assert server.uploads == [] and server.created == [] and refused.stdout == ""
    allowed = run(*args, str(worst * Decimal("1.01")))
    assert allowed.exit_code == 0, allowed.stderr
    assert len(server.created) == 1 and len(allowed.stdout.splitlines()) == 3


def test_batch_api_counts_against_the_daily_budget(server: BatchServer, tmp_path: Path, scripted_backend,
                                                   data_dir: Path) -> None:
    scripted_backend(f'[profiles.batches]\nkind = "openai"\nbase_url = "{server.base_url}"\nprices = "openai"\n'
                     '\n[budget]\ndaily_usd = 0.000001\n')
    prompts = _prompts(tmp_path, ["frogs sing", "at night"])
    result = run("complete", "--batch-api", "--poll-interval", "0.01", "-m", "batches:gpt-4o-mini", "--jsonl",
                 str(prompts), "--max-tokens", "20")
    assert result.exit_code == 6, result.stderr
    assert "over the [budget] daily_usd (what is left of it) limit of $0.000001; nothing was sent" in result.stderr
    assert server.uploads == [] and server.created == []
