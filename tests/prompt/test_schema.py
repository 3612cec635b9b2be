"""--schema: llm's concise syntax and JSON Schema files, on the wire (OpenAI, Mistral), on SmolLM2's grammar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.prompt_support import api, run_cli

FIELDS = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "bio": {"type": "string", "description": "a short biography"}},
          "required": ["name", "age", "bio"], "additionalProperties": False}


def _openai(content: str) -> dict[str, Any]:
    body = api.fixture_json("openai_chat.json")
    body["choices"][0]["message"]["content"] = content
    return body


def _mistral(content: str) -> dict[str, Any]:
    body = api.fixture_json("mistral_chat.json")
    body["choices"][0]["message"]["content"] = content
    return body


def test_concise_schema_goes_to_openai_strict_and_stdout_is_the_object(wire: Any, recorder: Any) -> None:
    recorder.reply(json_body=_openai('{"name": "Ada", "age": 36, "bio": "Wrote the first program."}'))
    result = wire("complete", "-m", "openai:gpt-4o-mini", "--schema", "name, age int, bio: a short biography",
                  "Invent a person")
    assert result.exit_code == 0, result.output
    sent = recorder.body()
    assert sent["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": FIELDS, "strict": True}}
    assert sent["messages"][-1] == {"role": "user", "content": "Invent a person"}
    assert json.loads(result.stdout) == {"name": "Ada", "age": 36, "bio": "Wrote the first program."}


def test_a_json_schema_file_with_optional_fields_goes_unstrict_to_mistral(wire: Any, recorder: Any,
                                                                         tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "rivers": {"type": "array",
                                                                                       "items": {"type": "string"}}},
              "required": ["city"]}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    recorder.reply(json_body=_mistral('{"city": "Lyon", "rivers": ["Rhone", "Saone"]}'))
    result = wire("complete", "-m", "mistral:mistral-small-latest", "--schema", str(path), "--json", "A French city")
    assert result.exit_code == 0, result.output
    sent = recorder.body()
    assert sent["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": schema, "strict": False}}
    record = json.loads(result.stdout)
    assert record["json"] == {"city": "Lyon", "rivers": ["Rhone", "Saone"]}


def test_schema_multi_wraps_a_list_as_llm_does(wire: Any, recorder: Any) -> None:
    recorder.reply(json_body=_openai('{"items": [{"name": "Lyon"}, {"name": "Nice"}]}'))
    result = wire("complete", "-m", "openai:gpt-4o-mini", "--schema-multi", "name", "Two cities")
    assert result.exit_code == 0, result.output
    items = recorder.body()["response_format"]["json_schema"]["schema"]["properties"]["items"]
    assert items == {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}},
                                                "required": ["name"], "additionalProperties": False}}
    assert json.loads(result.stdout) == {"items": [{"name": "Lyon"}, {"name": "Nice"}]}


def test_an_answer_that_does_not_match_is_retried_once_with_the_reason(wire: Any, recorder: Any) -> None:
    recorder.reply(json_body=_openai('{"name": "Ada", "age": "old", "bio": "x"}'))
    recorder.reply(json_body=_openai('{"name": "Ada", "age": 36, "bio": "x"}'))
    result = wire("complete", "-m", "openai:gpt-4o-mini", "--schema", "name, age int, bio", "Invent a person")
    assert result.exit_code == 0, result.output
    retry = recorder.body()["messages"][-1]["content"]
    assert retry.startswith("That answer is not valid: age: 'old' is not of type 'integer'.")
    assert json.loads(result.stdout)["age"] == 36


def test_a_schema_that_is_not_json_schema_is_exit_2_with_the_validators_message() -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    bad = {"type": "object", "properties": {"n": {"type": "integr"}}}
    try:
        Draft202012Validator.check_schema(bad)
    except SchemaError as exc:
        expected = exc.message
    result = run_cli("complete", "--schema", json.dumps(bad), "hi")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"llmctl: error: --schema: not a valid JSON Schema: {expected} "
                                     "(at properties/n/type)")


def test_concise_syntax_errors_name_the_field() -> None:
    result = run_cli("complete", "--schema", "name, age integer", "hi")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("llmctl: error: --schema: field 'age' has type 'integer'; "
                                     "the types are str, int, float, bool, list")


def test_batch_records_carry_the_object(wire: Any, recorder: Any, tmp_path: Path) -> None:
    recorder.reply(json_body=_openai('{"name": "Lyon"}'))
    prompts = tmp_path / "towns.jsonl"
    prompts.write_text('{"id": "a", "text": "A town"}\n{"id": "b", "text": "Another"}\n')
    out = tmp_path / "out.jsonl"
    result = wire("complete", "-m", "openai:gpt-4o-mini", "--schema", "name", "--jsonl", str(prompts), "-o", str(out))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["id"], r["json"]["name"]) for r in records) == [("a", "Lyon"), ("b", "Lyon")]


@pytest.mark.slow
def test_smollm2_answers_through_its_grammar() -> None:
    from jsonschema import validate

    result = run_cli("complete", "-m", "smollm2", "--schema", "city, population int", "--max-tokens", "60",
                     "Name a French city and its population.")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    validate(answer, {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
                      "required": ["city", "population"]})


def test_the_issue_example_with_a_list_field(wire: Any, recorder: Any) -> None:
    recorder.reply(json_body=_openai('{"name": "Lyon", "population": 522000, "rivers": ["Rhone", "Saone"]}'))
    result = wire("complete", "-m", "openai:gpt-5-mini", "--schema", "name, population int, rivers list",
                  "A French city")
    assert result.exit_code == 0, result.output
    schema = recorder.body()["response_format"]["json_schema"]["schema"]
    assert schema["properties"] == {"name": {"type": "string"}, "population": {"type": "integer"},
                                    "rivers": {"type": "array", "items": {"type": "string"}}}
    assert json.loads(result.stdout)["rivers"] == ["Rhone", "Saone"]


@pytest.mark.slow
def test_an_hf_model_answers_through_llguidance(smollm2_hf_dir: Path) -> None:
    from jsonschema import validate

    result = run_cli("complete", "-m", f"hf:{smollm2_hf_dir}", "--schema", "city, population int", "--max-tokens",
                     "40", "Name a French city and its population.")
    assert result.exit_code == 0, result.output
    validate(json.loads(result.stdout), {"type": "object", "required": ["city", "population"],
                                         "properties": {"population": {"type": "integer"}}})
