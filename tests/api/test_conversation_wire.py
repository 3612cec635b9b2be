"""Conversations on the wire: `-c` sends the stored turns as chat messages to OpenAI and Mistral
(request bodies recorded by an httpx2 MockTransport), and `-c -m other` carries them to another model."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.api_wire import Recorder, fixture_json
from typer.testing import CliRunner

from llmctl.cli.app import app

pytestmark = pytest.mark.usefixtures("keys")
OPENAI_ANSWER = "Under the moon, the frogs held a concert."
MISTRAL_ANSWER = "La nuit, les grenouilles chantent."


@pytest.fixture
def wired(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    from llmctl.run import runner

    real = runner.get_provider

    def with_transport(ref: Any, options: dict[str, Any] | None = None) -> Any:
        return real(ref, {**(options or {}), "transport": recorder.transport, "backoff_base": 0.001})

    monkeypatch.setattr(runner, "get_provider", with_transport)
    return recorder


def _run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result


def test_continue_sends_the_history_to_openai_then_to_mistral(wired: Recorder) -> None:
    wired.reply(json_body=fixture_json("openai_chat.json"))
    assert _run("complete", "-m", "openai:gpt-4o-mini", "-s", "Be brief", "--no-stream",
                "Name three French rivers").stdout == OPENAI_ANSWER + "\n"
    _run("complete", "-c", "--no-stream", "Which is the longest?")
    assert str(wired.requests[1].url) == "https://api.openai.com/v1/chat/completions"
    assert wired.body(1)["model"] == "gpt-4o-mini"  # -c without -m: the conversation's model
    assert wired.body(1)["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Name three French rivers"},
        {"role": "assistant", "content": OPENAI_ANSWER},
        {"role": "user", "content": "Which is the longest?"}]
    wired.reply(json_body=fixture_json("mistral_chat.json"))
    wired._answers = wired._answers[-1:]
    assert _run("complete", "-c", "-m", "mistral:mistral-small-latest", "--no-stream",
                "Say it in French").stdout == MISTRAL_ANSWER + "\n"
    assert str(wired.requests[2].url) == "https://api.mistral.ai/v1/chat/completions"
    # The Mistral SDK adds `prefix: false` to assistant turns; roles and texts are what matter.
    assert [{"role": m["role"], "content": m["content"]} for m in wired.body(2)["messages"]] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Name three French rivers"},
        {"role": "assistant", "content": OPENAI_ANSWER},
        {"role": "user", "content": "Which is the longest?"},
        {"role": "assistant", "content": OPENAI_ANSWER},
        {"role": "user", "content": "Say it in French"}]
    listed = [json.loads(line) for line in _run("logs", "--conversations", "--json").stdout.splitlines()]
    assert len(listed) == 1 and listed[0]["turns"] == 3
    assert listed[0]["models"] == ["openai:gpt-4o-mini", "mistral:mistral-small-latest"]


def test_estimate_of_a_continued_prompt_counts_openai_framing_of_every_turn(wired: Recorder, real_tiktoken) -> None:
    wired.reply(json_body=fixture_json("openai_chat.json"))
    _run("complete", "-m", "openai:gpt-4o-mini", "--no-stream", "Name three French rivers")
    estimate = json.loads(_run("complete", "-c", "--estimate", "--json", "Which is the longest?").stdout)
    encoding = real_tiktoken["o200k_base"]
    messages = [("user", "Name three French rivers"), ("assistant", OPENAI_ANSWER), ("user", "Which is the longest?")]
    # OpenAI's documented count: 3 tokens a message plus its role and text, 3 to prime the reply.
    expected = 3 + sum(3 + len(encoding.encode(role)) + len(encoding.encode(text)) for role, text in messages)
    assert estimate["input_tokens"] == expected
    assert len(wired.requests) == 1
