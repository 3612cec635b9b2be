"""Tools: the loop against a scripted server (results sent back, usage summed, chain limit, raising tools)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from support.chat_script import ChatScript, tool_call
from support.prompt_support import run_cli


def _tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def test_calc_round_trip_sends_the_result_back_and_sums_usage(chat_script: ChatScript, data_dir: Path) -> None:
    def first(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        names = [t["function"]["name"] for t in body["tools"]]
        assert names == ["calc"], names
        return tool_call("call_1", "calc", {"expression": "1234 * 5678"}), {"in": 40, "out": 9}

    def second(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        sent = _tool_messages(body)
        assert sent == [{"role": "tool", "tool_call_id": "call_1", "content": str(1234 * 5678)}], sent
        assistant = body["messages"][-2]
        assert assistant["tool_calls"][0]["function"]["name"] == "calc"
        return {"content": "1234 * 5678 = 7006652"}, {"in": 60, "out": 11}

    chat_script.steps = [first, second]
    result = run_cli("complete", "-m", "openai:some-model", "--base-url", chat_script.base_url, "-T", "calc",
                     "--td", "--json", "What is 1234 * 5678?")
    assert result.exit_code == 0, result.output
    assert chat_script.failures == []
    record = json.loads(result.stdout)
    assert record["text"] == "1234 * 5678 = 7006652"
    assert record["usage"]["input_tokens"] == 100 and record["usage"]["output_tokens"] == 20
    assert record["tool_calls"] == [{"id": "call_1", "name": "calc", "arguments": '{"expression": "1234 * 5678"}',
                                     "output": "7006652", "error": False}]
    assert 'tool calc({"expression": "1234 * 5678"}) -> 7006652' in result.stderr
    rows = sqlite3.connect(data_dir / "usage.db").execute(
        "SELECT input_tokens, output_tokens FROM calls ORDER BY id").fetchall()
    assert rows == [(40, 9), (60, 11)]


def test_a_raising_tool_sends_its_error_to_the_model(chat_script: ChatScript, tmp_path: Path) -> None:
    tools = tmp_path / "tools.py"
    tools.write_text('def lookup(city: str, year: int = 2020) -> str:\n'
                     '    """Population of a city."""\n'
                     '    raise KeyError(f"no data for {city}")\n\n'
                     'def _hidden() -> None:\n    pass\n')

    def first(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        (spec,) = body["tools"]
        assert spec["function"]["name"] == "lookup"
        assert spec["function"]["description"] == "Population of a city."
        params = spec["function"]["parameters"]
        assert params["properties"] == {"city": {"type": "string"}, "year": {"type": "integer", "default": 2020}}
        assert params["required"] == ["city"]
        return tool_call("c9", "lookup", {"city": "Lyon"}), {"in": 5, "out": 5}

    def second(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
        (sent,) = _tool_messages(body)
        assert sent["content"] == "Error: KeyError: 'no data for Lyon'", sent
        return {"content": "I could not find it."}, {"in": 5, "out": 5}

    chat_script.steps = [first, second]
    result = run_cli("complete", "-m", "openai:m", "--base-url", chat_script.base_url, "--functions", str(tools),
                     "Population of Lyon?")
    assert result.exit_code == 0, result.output
    assert chat_script.failures == []
    assert result.stdout == "I could not find it.\n"


def test_chain_limit_stops_a_model_that_keeps_calling(chat_script: ChatScript) -> None:
    chat_script.steps = [lambda body: (tool_call(f"c{len(body['messages'])}", "calc", {"expression": "1+1"}),
                                       {"in": 3, "out": 2})]
    result = run_cli("complete", "-m", "openai:m", "--base-url", chat_script.base_url, "-T", "calc",
                     "--chain-limit", "3", "--json", "loop")
    assert result.exit_code == 0, result.output
    assert len(chat_script.bodies) == 3
    record = json.loads(result.stdout)
    assert len(record["tool_calls"]) == 2  # the third call's request was not run
    assert record["usage"]["input_tokens"] == 9
    assert "stopped after 3 model calls (--chain-limit)" in result.stderr


def test_a_tool_file_that_fails_to_import_is_exit_2_before_any_call(chat_script: ChatScript, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    chat_script.steps = [lambda body: ({"content": "x"}, {"in": 1, "out": 1})]
    result = run_cli("complete", "-m", "openai:m", "--base-url", chat_script.base_url, "--functions", str(broken),
                     "hi")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"llmctl: error: --functions {broken}: cannot be imported: "
                                     "ModuleNotFoundError: No module named 'not_a_module_anywhere'")
    assert chat_script.bodies == []


def test_tools_on_a_backend_without_them_name_those_that_have_them(smollm2_hf_dir: Path) -> None:
    result = run_cli("complete", "-m", f"hf:{smollm2_hf_dir}", "-T", "calc", "2+2?")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"llmctl: error: hf:{smollm2_hf_dir} cannot call tools; tools work with gguf, "
                                     "mistral, openai models (OpenAI-compatible servers through a profile or "
                                     "--base-url)")


@pytest.mark.slow
def test_smollm2_calls_tools_through_its_grammar(data_dir: Path) -> None:
    result = run_cli("complete", "-m", "smollm2", "-T", "calc", "--chain-limit", "2", "--json",
                     "Use the calc tool to compute 1234 * 5678.")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    # The grammar lets a turn be only a call of an offered tool with its schema's arguments, or the answer.
    for call in record["tool_calls"]:
        assert call["name"] == "calc" and list(json.loads(call["arguments"])) == ["expression"]
    rows = sqlite3.connect(data_dir / "usage.db").execute("SELECT input_tokens FROM calls").fetchall()
    assert 1 <= len(rows) <= 2
    assert sum(r[0] for r in rows) == record["usage"]["input_tokens"]


def test_an_unknown_builtin_is_exit_2() -> None:
    result = run_cli("complete", "-T", "shell", "hi")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("llmctl: error: -T shell: no such tool; the built-in tools are calc, llm_time "
                                     "(--functions FILE offers your own)")


def test_calc_is_arithmetic_only() -> None:
    import ast

    from llmctl.tools.builtin import calc

    assert calc("(1234 * 5678) / 2") == str(ast.literal_eval("3503326"))
    assert calc("2 ** 10 - sqrt(16)") == "1020"
    for bad in ("__import__('os')", "open('x')", "[1, 2]", "(1).__class__"):
        try:
            calc(bad)
        except (ValueError, SyntaxError):
            continue
        raise AssertionError(f"{bad} was evaluated")


def test_mistral_tool_round_on_the_wire(recorder: Any, monkeypatch: Any, keys: None, data_dir: Path) -> None:
    from support.prompt_support import api

    from llmctl.run import runner

    real = runner.get_provider
    monkeypatch.setattr(runner, "get_provider", lambda ref, options=None: real(
        ref, {**(options or {}), "transport": recorder.transport, "backoff_base": 0.001}))
    asks = api.fixture_json("mistral_chat.json")
    asks["choices"][0]["message"].update(content="", tool_calls=[
        {"id": "abc123XYZ", "type": "function", "function": {"name": "calc", "arguments": '{"expression": "6*7"}'}}])
    asks["choices"][0]["finish_reason"] = "tool_calls"
    recorder.reply(json_body=asks)
    recorder.reply(json_body=api.fixture_json("mistral_chat.json"))
    result = run_cli("complete", "-m", "mistral:mistral-small-latest", "-T", "calc", "--json", "6 times 7?")
    assert result.exit_code == 0, result.output
    first, second = recorder.body(0), recorder.body(1)
    assert first["tools"][0]["function"]["name"] == "calc"
    assert second["messages"][-2]["tool_calls"][0]["id"] == "abc123XYZ"
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "abc123XYZ", "name": "calc", "content": "42"}
    record = json.loads(result.stdout)
    assert record["usage"]["input_tokens"] == 32 and record["tool_calls"][0]["output"] == "42"


def test_estimate_counts_the_worst_case_of_a_whole_chain() -> None:
    from llmctl.core.tooling import RESULT_BYTES

    base = json.loads(run_cli("complete", "--estimate", "--json", "-m", "openai:gpt-4o-mini", "--max-tokens", "100",
                              "-T", "calc", "--chain-limit", "1", "What is 6*7?").stdout)
    three = json.loads(run_cli("complete", "--estimate", "--json", "-m", "openai:gpt-4o-mini", "--max-tokens", "100",
                               "-T", "calc", "--chain-limit", "3", "What is 6*7?").stdout)
    inputs = base["input_tokens"]
    assert "retries_at_most" not in base
    # Round k resends everything so far: the prompt, k answers of at most 100 tokens, k results of at
    # most RESULT_BYTES bytes (a token is at least one byte).
    assert three["retries_at_most"] == {"input_tokens": 2 * inputs + 3 * (100 + RESULT_BYTES), "output_tokens": 200}
