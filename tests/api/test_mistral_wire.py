"""The mistral provider against fixtures in Mistral's wire format, through an httpx2 MockTransport."""

from __future__ import annotations

import pytest
from support.api_wire import MISTRAL_KEY, Recorder, fixture_json, fixture_text

from llmctl.core.errors import AuthError, UsageError
from llmctl.providers.base import CompletionRequest, EmbeddingRequest

pytestmark = pytest.mark.usefixtures("keys")


def test_chat_request_and_answer(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("mistral_chat.json"))
    ref, provider = open_model("mistral:mistral-small-latest")
    result = provider.complete(ref, CompletionRequest("Tell me a story", system="Answer in French",
                                                      max_tokens=200, temperature=0.3, seed=7, stop=["."]))
    sent = recorder.requests[0]
    assert (sent.method, str(sent.url)) == ("POST", "https://api.mistral.ai/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {MISTRAL_KEY}"
    body = recorder.body()
    assert body["model"] == "mistral-small-latest"
    assert body["messages"] == [{"role": "system", "content": "Answer in French"},
                                {"role": "user", "content": "Tell me a story"}]
    assert (body["max_tokens"], body["temperature"], body["random_seed"], body["stop"]) == (200, 0.3, 7, ["."])
    assert "seed" not in body and body["stream"] is False
    assert result.text == "La nuit, les grenouilles chantent."
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.estimated) == (16, 34, False)
    assert result.finish_reason == "stop"


def test_stream_takes_usage_from_the_final_chunk(recorder: Recorder, open_model) -> None:
    recorder.reply(sse=fixture_text("mistral_chat_stream.sse"))
    ref, provider = open_model("mistral:mistral-small-latest")
    seen: list[str] = []
    result = provider.complete(ref, CompletionRequest("hi", stream=True), seen.append)
    assert recorder.body()["stream"] is True
    assert seen == ["Les grenouilles", " chantent."]
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("Les grenouilles chantent.",
                                                                                   14, 6)
    assert result.usage.estimated is False


def test_embeddings(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("mistral_embeddings.json"))
    ref, provider = open_model("mistral:mistral-embed")
    result = provider.embed(ref, EmbeddingRequest(["frog", "night"]))
    assert str(recorder.requests[0].url) == "https://api.mistral.ai/v1/embeddings"
    assert recorder.body() == {"model": "mistral-embed", "input": ["frog", "night"]}
    assert result.vectors == [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]
    assert result.usage.input_tokens == 6


def test_401_hint_names_mistral_api_key(recorder: Recorder, open_model) -> None:
    recorder.reply(401, json_body=fixture_json("mistral_error_401.json"))
    ref, provider = open_model("mistral:mistral-small-latest")
    with pytest.raises(AuthError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.one_line() == ("mistral:mistral-small-latest: authentication failed (401): Unauthorized "
                                    "(check MISTRAL_API_KEY)")


def test_400_and_422_show_the_providers_message(recorder: Recorder, open_model) -> None:
    recorder.reply(400, json_body=fixture_json("mistral_error_400.json"))
    recorder.reply(422, json_body=fixture_json("mistral_error_422.json"))
    ref, provider = open_model("mistral:mistral-small-latest")
    with pytest.raises(UsageError) as first:
        provider.complete(ref, CompletionRequest("hi"))
    with pytest.raises(UsageError) as second:
        provider.complete(ref, CompletionRequest("hi"))
    assert first.value.one_line() == ("mistral:mistral-small-latest: the provider refused the request (400): "
                                      "Invalid model: mistral-smol")
    assert second.value.one_line() == ("mistral:mistral-small-latest: the provider refused the request (422): "
                                       "body.temperature: Input should be less than or equal to 1.5")


def test_temperature_above_mistrals_range_is_exit_2(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("mistral_chat.json"))
    ref, provider = open_model("mistral:mistral-small-latest")
    with pytest.raises(UsageError) as err:
        provider.complete(ref, CompletionRequest("hi", temperature=1.8))
    assert err.value.one_line() == "--temperature must be between 0 and 1.5 for mistral, not 1.8"
    assert recorder.requests == []


def test_missing_key(recorder: Recorder, open_model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY")
    ref, provider = open_model("mistral:mistral-small-latest")
    with pytest.raises(AuthError) as err:
        provider.load(ref)
    assert err.value.exit_code == 3
    assert "MISTRAL_API_KEY is not set" in err.value.one_line()
