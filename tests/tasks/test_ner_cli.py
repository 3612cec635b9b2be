"""`llmctl ner` through recorded OpenAI answers: offsets found in the text, inventions dropped, TSV, --gold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tasks_support import fixture_json

pytestmark = pytest.mark.usefixtures("keys")

TEXT = "Barack Obama was born in Hawaii and served as the 44th President of the United States."


def _reply(entities: list[dict]) -> dict:
    body = fixture_json("openai_structured.json")
    body["choices"][0]["message"]["content"] = json.dumps({"entities": entities})
    return body


def test_entities_get_offsets_and_inventions_are_dropped(recorder, wire_cli) -> None:
    recorder.reply(json_body=_reply([{"text": "Barack Obama", "type": "PER"}, {"text": "Hawaii", "type": "LOC"},
                                     {"text": "Honolulu", "type": "LOC"},
                                     {"text": "United States", "type": "LOC"}]))
    result = wire_cli("ner", "--json", "-m", "openai:gpt-4o", TEXT)
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert [(e["start"], e["end"], e["type"]) for e in record["entities"]] == [
        (0, 12, "PER"), (25, 31, "LOC"), (72, 85, "LOC")]
    assert all(TEXT[e["start"]:e["end"]] == e["text"] for e in record["entities"])
    assert record["dropped"] == 1
    assert "warning: openai:gpt-4o named 1 entity that is not in the text; dropped" in result.stderr
    schema = recorder.body()["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["entities"]["items"]["properties"]["type"]["enum"] == ["PER", "ORG", "LOC", "MISC"]


def test_piped_output_is_tsv_and_types_restrict_the_schema(recorder, wire_cli) -> None:
    recorder.reply(json_body=_reply([{"text": "Hawaii", "type": "LOC"}]))
    result = wire_cli("ner", "-m", "openai:gpt-4o", "--types", "LOC,DATE", TEXT)
    assert result.stdout == "start\tend\ttype\ttext\n25\t31\tLOC\tHawaii\n"
    enum = recorder.body()["response_format"]["json_schema"]["schema"]["properties"]["entities"]["items"][
        "properties"]["type"]["enum"]
    assert enum == ["LOC", "DATE"]


def test_no_entities_is_an_empty_list_and_exit_0(recorder, wire_cli) -> None:
    recorder.reply(json_body=_reply([]))
    result = wire_cli("ner", "--json", "-m", "openai:gpt-4o", "the cat sat on the mat")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["entities"] == []
    recorder.reply(json_body=_reply([]))
    plain = wire_cli("ner", "-m", "openai:gpt-4o", "the cat sat on the mat")
    # The TSV header even with no entity: "none found" reads apart from "no output".
    assert (plain.exit_code, plain.stdout) == (0, "start\tend\ttype\ttext\n")


def test_names_written_in_another_case_or_spacing_map_to_the_text(recorder, wire_cli) -> None:
    recorder.reply(json_body=_reply([{"text": "barack obama", "type": "PER"}, {"text": "Hawaii.", "type": "LOC"},
                                     {"text": "united  States", "type": "LOC"}, {"text": "US", "type": "LOC"}]))
    result = wire_cli("ner", "--json", "-m", "openai:gpt-4o", TEXT)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    # "US" ignoring case is in "United States"? No: whole words only, so it is dropped, not put inside a word.
    assert [(e["text"], e["start"], e["end"], e["type"]) for e in record["entities"]] == [
        ("Barack Obama", 0, 12, "PER"), ("Hawaii", 25, 31, "LOC"), ("United States", 72, 85, "LOC")]
    assert all(TEXT[e["start"]:e["end"]] == e["text"] for e in record["entities"])
    assert record["dropped"] == 1 and record["dropped_entities"] == [{"text": "US", "type": "LOC"}]


def test_verbose_lists_the_dropped_entities_and_max_tokens_reaches_the_wire(recorder, wire_cli) -> None:
    recorder.reply(json_body=_reply([{"text": "Barack Obama", "type": "PER"}, {"text": "Honolulu", "type": "LOC"},
                                     {"text": "White House", "type": "ORG"}]))
    result = wire_cli("ner", "-v", "--max-tokens", "300", "-m", "openai:gpt-4o", TEXT)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "start\tend\ttype\ttext\n0\t12\tPER\tBarack Obama\n"
    assert "· dropped (not in the text): LOC\t'Honolulu'\n" in result.stderr
    assert "· dropped (not in the text): ORG\t'White House'\n" in result.stderr
    body = recorder.body()
    assert body.get("max_completion_tokens", body.get("max_tokens")) == 300
    quiet = wire_cli("ner", "-m", "openai:gpt-4o", TEXT)
    assert "dropped (not in the text)" not in quiet.stderr
    assert "named 2 entities that are not in the text; dropped" in quiet.stderr
    bad = wire_cli("ner", "--max-tokens", "0", "-m", "openai:gpt-4o", TEXT)
    assert bad.exit_code == 2 and bad.stdout == ""


def test_gold_entities_metrics_final_record(recorder, wire_cli, tmp_path: Path) -> None:
    recorder.reply(json_body=_reply([{"text": "Barack Obama", "type": "PER"}, {"text": "Hawaii", "type": "ORG"}]))
    path = tmp_path / "conll.jsonl"
    gold = [{"start": 0, "end": 12, "type": "PER"}, {"start": 25, "end": 31, "type": "LOC"}]
    path.write_text(json.dumps({"text": TEXT, "entities_gold": gold}) + "\n")
    result = wire_cli("ner", "--json", "--jsonl", str(path), "--gold", "entities_gold", "-m", "openai:gpt-4o")
    assert result.exit_code == 0
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["metrics"]["precision"] == 0.5 and final["metrics"]["recall"] == 0.5
    assert final["metrics"]["per_type"]["LOC"]["recall"] == 0.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": TEXT, "entities_gold": "Obama"}) + "\n")
    result = wire_cli("ner", "--jsonl", str(bad), "--gold", "entities_gold", "-m", "openai:gpt-4o")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {bad}:1: gold entities must be a list of {{start, end, type}}\n"
