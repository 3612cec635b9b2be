"""The gemini provider against recorded generateContent bodies and streams, through an httpx2 MockTransport."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support.api_wire import FIXTURES, GEMINI_KEY, Recorder, fixture_json, fixture_text

from llmctl.core.config import get_config
from llmctl.core.errors import AuthError, ProviderError, RateLimitError, UsageError
from llmctl.core.pricing import PriceTable
from llmctl.providers.base import CompletionRequest
from llmctl.providers.registry import get_tokenizer, resolve_model

pytestmark = pytest.mark.usefixtures("keys")

ROOT = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["pos", "neg"]}},
          "required": ["label"], "additionalProperties": False}


def test_generate_request_answer_usage_and_cost(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("gemini_generate.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash")
    result = provider.complete(ref, CompletionRequest("Explain BPE in two sentences", system="Be brief",
                                                      max_tokens=1000, temperature=0.4, top_p=0.9, top_k=32,
                                                      seed=7, stop=["END"]))
    sent = recorder.requests[0]
    assert (sent.method, str(sent.url)) == ("POST", f"{ROOT}:generateContent")
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in sent.headers and "key=" not in str(sent.url)
    assert recorder.body() == {
        "contents": [{"role": "user", "parts": [{"text": "Explain BPE in two sentences"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief"}]},
        "generationConfig": {"temperature": 0.4, "topP": 0.9, "topK": 32, "maxOutputTokens": 1000, "seed": 7,
                             "stopSequences": ["END"]}}
    assert result.text.startswith("BPE builds a vocabulary")
    # Output billed: 41 answer tokens + 795 thinking tokens (fixture).
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (12, 836, False)
    assert (result.finish_reason, result.response_model) == ("stop", "gemini-2.5-flash")
    cost = PriceTable(get_config(), fetched={}).cost_for(ref.provider, ref.model, ref.settings, usage)
    # Gemini 2.5 Flash list rates: $0.30 in, $2.50 out per 1M tokens.
    assert cost.total == (Decimal(12) * Decimal("0.3") + Decimal(836) * Decimal("2.5")) / 1_000_000


def test_structured_output_and_history(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("gemini_generate.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash")
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    provider.complete(ref, CompletionRequest("Is this good?", history=history, json_schema=SCHEMA))
    body = recorder.body()
    assert body["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert provider.constrains_json(ref)


def test_stream_text_usage_and_finish(recorder: Recorder, open_model) -> None:
    # As recorded: the API ends each event with CRLF CRLF.
    recorder.reply(sse=(FIXTURES / "gemini_generate_stream.sse").read_bytes().decode())
    ref, provider = open_model("gemini:gemini-2.5-flash")
    seen: list[str] = []
    result = provider.complete(ref, CompletionRequest("hi", stream=True), seen.append)
    assert str(recorder.requests[0].url) == f"{ROOT}:streamGenerateContent?alt=sse"
    assert seen == ["Frogs", " sing at night."]
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("Frogs sing at night.", 9, 35)
    assert result.finish_reason == "stop"


def test_stream_cut_before_its_finish_reason_is_exit_4(recorder: Recorder, open_model) -> None:
    recorder.reply(sse=fixture_text("gemini_generate_stream.sse").replace("\r\n", "\n").split("\n\n")[0] + "\n\n")
    ref, provider = open_model("gemini:gemini-2.5-flash")
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi", stream=True))
    assert "the stream ended before the answer was complete (5 characters received)" in err.value.one_line()


def test_a_blocked_prompt_is_exit_2(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("gemini_blocked.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash")
    with pytest.raises(UsageError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.one_line() == "gemini:gemini-2.5-flash: Gemini refused the prompt (PROHIBITED_CONTENT)"


@pytest.mark.parametrize(("status", "fixture", "line"), [
    (400, "gemini_error_400_key.json", "authentication failed (400, API_KEY_INVALID): API key not valid. Please "
                                       "pass a valid API key."),
    (401, "gemini_error_401.json", "authentication failed (401): Request had invalid authentication credentials. "
                                   "Expected OAuth 2 access token, login cookie or other valid authentication "
                                   "credential."),
])
def test_a_key_refused_is_exit_3(recorder: Recorder, open_model, status: int, fixture: str, line: str) -> None:
    recorder.reply(status, json_body=fixture_json(fixture))
    ref, provider = open_model("gemini:gemini-2.5-flash")
    with pytest.raises(AuthError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 3
    assert err.value.one_line() == f"gemini:gemini-2.5-flash: {line} (check GEMINI_API_KEY)"


def test_429_is_retried_then_answered(recorder: Recorder, open_model) -> None:
    recorder.reply(429, json_body=fixture_json("gemini_error_429.json"), headers={"retry-after": "0"})
    recorder.reply(json_body=fixture_json("gemini_generate.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash", max_retries=2)
    assert provider.complete(ref, CompletionRequest("hi")).text.startswith("BPE")
    assert len(recorder.requests) == 2


def test_429_after_retries_is_exit_4(recorder: Recorder, open_model) -> None:
    recorder.reply(429, json_body=fixture_json("gemini_error_429.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash", max_retries=1)
    with pytest.raises(RateLimitError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.one_line() == ("gemini:gemini-2.5-flash: rate limited (429) after 2 attempt(s): You exceeded "
                                    "your current quota, please check your plan and billing details.")


def test_500_after_retries_is_exit_4(recorder: Recorder, open_model) -> None:
    recorder.reply(500, json_body=fixture_json("gemini_error_500.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash", max_retries=2)
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4 and len(recorder.requests) == 3
    assert err.value.one_line().startswith("gemini:gemini-2.5-flash: server error (500) after 3 attempt(s): An "
                                           "internal error has occurred.")


def test_more_stop_sequences_than_the_api_takes_is_exit_2(recorder: Recorder, open_model) -> None:
    ref, provider = open_model("gemini:gemini-2.5-flash")
    with pytest.raises(UsageError) as err:
        provider.complete(ref, CompletionRequest("hi", stop=list("abcdef")))
    assert err.value.one_line() == "Gemini accepts at most 5 --stop sequences, not 6"
    assert recorder.requests == []


def test_google_api_key_is_read_first_as_googles_sdk_does(recorder: Recorder, open_model,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaSyGoogleKey0123456789abcdefSECRET")
    recorder.reply(json_body=fixture_json("gemini_generate.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash")
    provider.complete(ref, CompletionRequest("hi"))
    assert recorder.requests[0].headers["x-goog-api-key"] == "AIzaSyGoogleKey0123456789abcdefSECRET"


def test_counts_go_to_count_tokens_with_a_key(recorder: Recorder) -> None:
    recorder.reply(json_body=fixture_json("gemini_count_tokens.json"))
    tokenizer = get_tokenizer(resolve_model("gemini:gemini-2.5-flash"), {"transport": recorder.transport})
    assert (tokenizer.count("Frogs sing at night."), tokenizer.estimated) == (9, False)
    sent = recorder.requests[0]
    assert str(sent.url) == f"{ROOT}:countTokens"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY
    assert recorder.body() == {"contents": [{"role": "user", "parts": [{"text": "Frogs sing at night."}]}]}


def test_a_request_with_a_system_text_is_counted_whole(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("gemini_count_tokens.json"))
    ref, provider = open_model("gemini:gemini-2.5-flash")
    assert provider.count_request(ref, CompletionRequest("hi", system="Be brief")) == 9
    assert recorder.body() == {"generateContentRequest": {
        "model": "models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief"}]}}}


def test_without_a_key_counts_are_estimated_offline(recorder: Recorder, monkeypatch: pytest.MonkeyPatch,
                                                    real_tiktoken) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    tokenizer = get_tokenizer(resolve_model("gemini:gemini-2.5-flash"))
    text = "Frogs sing at night, and the pond answers."
    assert tokenizer.count(text) == len(real_tiktoken["o200k_base"].encode(text))
    assert tokenizer.estimated
    assert recorder.requests == []
