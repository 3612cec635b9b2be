"""The output contract of issue 11: JSON stays JSON, a cut stream's error on its own line, bad batch
records become their own errors, a non-JSON answer is a provider failure (exit 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.scripted_run import ScriptedProvider, run


@pytest.fixture
def openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-run-layer")


def test_json_stream_is_delta_records_then_the_full_record(fault_server, openai_key) -> None:
    fault_server.script("stream")
    result = run("complete", "--json", "--stream", "-m", "openai:gpt-4o-mini", "--base-url", fault_server.base_url,
                 "hi")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]  # every line parses: jq-safe
    deltas = [r["delta"] for r in records[:-1]]
    assert deltas == ["Frogs ", "sing ", "at ", "night."]
    assert records[-1]["text"] == "".join(deltas)
    assert records[-1]["usage"]["output_tokens"] == 4 and records[-1]["error"] is None


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_body_that_is_not_json_is_exit_4(fault_server, openai_key, json_flag: list[str]) -> None:
    fault_server.script("notjson")
    result = run("complete", *json_flag, "-m", "openai:gpt-4o-mini", "--base-url", fault_server.base_url,
                 "--max-retries", "0", "hi")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "not JSON" in result.stderr


def test_a_body_that_is_not_json_in_a_batch_is_that_records_error(fault_server, openai_key, tmp_path: Path) -> None:
    fault_server.script("chat", "notjson", "chat")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n{"id": 3, "text": "c"}\n')
    result = run("complete", "-m", "openai:gpt-4o-mini", "--base-url", fault_server.base_url, "--max-retries", "0",
                 "--concurrency", "1", "--jsonl", str(prompts))
    assert result.exit_code == 4
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["error"] is None for r in records] == [True, False, True]
    assert records[1]["error"]["type"] == "ProviderError" and "not JSON" in records[1]["error"]["message"]


def test_a_cut_stream_starts_its_error_on_a_new_line(fault_server, openai_key) -> None:
    fault_server.script("cut")
    result = run("complete", "--stream", "-m", "openai:gpt-4o-mini", "--base-url", fault_server.base_url,
                 "--max-retries", "0", "hi")
    assert result.exit_code == 4
    assert result.stdout == "Frogs sing \n"
    assert result.stderr.startswith("llmctl: error: ")


def test_cut_stream_scripted_error_after_text_without_newline() -> None:
    result = run("complete", "--stream", "-m", "scripted:chat", "go CUT here")
    assert result.exit_code == 4
    assert result.stdout == "GO CUT \n"
    assert result.stderr == "llmctl: error: the stream was cut\n"


def test_empty_null_and_non_string_records_fail_alone(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join([
        '{"id": 1, "text": "fine"}', '{"id": 2, "text": ""}', '{"id": 3, "text": null}',
        '{"id": 4, "text": 42}', '{"id": 5, "text": "   "}', '{"id": 6, "text": "also fine"}']) + "\n")
    result = run("complete", "-m", "scripted:chat", "--jsonl", str(prompts))
    assert result.exit_code == 4
    records = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records[1]["text"] == "FINE" and records[6]["text"] == "ALSO FINE"
    name = str(prompts)
    assert records[2]["error"] == {"type": "InputError", "message": f"{name} line 2: empty input"}
    assert records[3]["error"]["message"] == f"{name} line 3: field 'text' must be a string, not null"
    assert records[4]["error"]["message"] == f"{name} line 4: field 'text' must be a string, not int"
    assert records[5]["error"]["message"] == f"{name} line 5: empty input"
    assert sorted(prompt for _, prompt in ScriptedProvider.calls) == ["also fine", "fine"]
    assert "4 of 6 records failed" in result.stderr


def test_embed_batch_with_a_null_record(tmp_path: Path) -> None:
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"id": "a", "text": "banana"}\n{"id": "b", "text": null}\n{"id": "c", "text": "kiwi"}\n')
    result = run("embed", "-m", "scripted:vec", "--jsonl", str(docs))
    assert result.exit_code == 4
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert records[0]["embedding"] == [3.0, 0.0, 0.0, 0.0, 0.0]
    assert records[1]["embedding"] is None and records[1]["error"]["type"] == "InputError"
    # One call for the two good texts; its 2 tokens are shared between their records.
    assert [r["usage"]["input_tokens"] for r in (records[0], records[2])] == [1, 1]


def test_mistral_body_that_is_not_json_is_exit_4(fault_server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-test-run-layer")
    fault_server.script("notjson")
    result = run("complete", "-m", "mistral:mistral-small-latest", "--base-url", fault_server.base_url,
                 "--max-retries", "0", "hi")
    assert result.exit_code == 4, result.stderr
    assert result.stdout == ""
