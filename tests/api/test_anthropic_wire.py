"""The anthropic provider against recorded Messages API bodies and streams, through an httpx2 MockTransport."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support.api_wire import ANTHROPIC_KEY, Recorder, fixture_json, fixture_text

from llmctl.core.config import get_config
from llmctl.core.errors import AuthError, ProviderError, RateLimitError, UsageError
from llmctl.core.pricing import PriceTable
from llmctl.providers.base import CompletionRequest
from llmctl.providers.registry import get_tokenizer

pytestmark = pytest.mark.usefixtures("keys")

MESSAGES = "https://api.anthropic.com/v1/messages"
SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["pos", "neg"]}},
          "required": ["label"], "additionalProperties": False}


def test_messages_request_answer_usage_and_cost(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("anthropic_messages.json"))
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    result = provider.complete(ref, CompletionRequest("Explain BPE in two sentences", system="Be brief",
                                                      max_tokens=300, temperature=0.2, top_k=40, stop=["\n\n"]))
    sent = recorder.requests[0]
    assert (sent.method, str(sent.url)) == ("POST", MESSAGES)
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert recorder.body() == {
        "model": "claude-sonnet-4-5", "max_tokens": 300, "system": "Be brief",
        "messages": [{"role": "user", "content": "Explain BPE in two sentences"}],
        "temperature": 0.2, "top_k": 40, "stop_sequences": ["\n\n"]}
    assert result.text.startswith("Byte-pair encoding starts from single bytes")
    # Billed input: 1121 uncached + 2048 read from the cache (fixture); output 52.
    usage = result.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.estimated) == (3169, 2048, 52,
                                                                                                     False)
    assert (result.finish_reason, result.response_model) == ("stop", "claude-sonnet-4-5-20250929")
    cost = PriceTable(get_config(), fetched={}).cost_for(ref.provider, ref.model, ref.settings, usage)
    # Anthropic's list rates for Sonnet 4.5: $3 in, $0.30 cache read, $15 out per 1M tokens.
    assert cost.total == (Decimal(1121) * 3 + Decimal(2048) * Decimal("0.3") + Decimal(52) * 15) / 1_000_000


def test_without_max_tokens_the_models_max_output_is_sent(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("anthropic_messages.json"))
    ref, provider = open_model("anthropic:claude-haiku-4-5")
    provider.complete(ref, CompletionRequest("hi"))
    ref, provider = open_model("anthropic:claude-opus-9")  # newer than configs/models.toml
    provider.complete(ref, CompletionRequest("hi"))
    assert [recorder.body(i)["max_tokens"] for i in (0, 1)] == [64000, 4096]
    assert "system" not in recorder.body(0) and "temperature" not in recorder.body(0)


def test_structured_output_sends_the_schema_as_json_output(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("anthropic_messages.json"))
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    provider.complete(ref, CompletionRequest("Is this good?", json_schema=SCHEMA, max_tokens=50))
    assert recorder.body()["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert provider.constrains_json(ref)


def test_history_turns_keep_their_roles(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("anthropic_messages.json"))
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    provider.complete(ref, CompletionRequest("And BPE?", history=history, max_tokens=10))
    assert recorder.body()["messages"] == [*history, {"role": "user", "content": "And BPE?"}]


def test_stream_text_usage_and_finish(recorder: Recorder, open_model) -> None:
    recorder.reply(sse=fixture_text("anthropic_messages_stream.sse"))
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    seen: list[str] = []
    result = provider.complete(ref, CompletionRequest("hi", stream=True, max_tokens=20), seen.append)
    assert recorder.body()["stream"] is True
    assert seen == ["Frogs", " sing at night."]
    assert (result.text, result.usage.input_tokens, result.usage.output_tokens) == ("Frogs sing at night.", 14, 6)
    assert (result.finish_reason, result.usage.estimated) == ("stop", False)


def test_stream_error_event_is_exit_4(recorder: Recorder, open_model) -> None:
    events = fixture_text("anthropic_messages_stream.sse").split("event: content_block_stop")[0]
    events += ('event: error\n'
               'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n')
    recorder.reply(sse=events)
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi", stream=True, max_tokens=20))
    assert err.value.exit_code == 4
    assert err.value.one_line() == "anthropic:claude-sonnet-4-5: the stream ended with an error: Overloaded"


def test_stream_without_a_stop_reason_is_a_cut_stream(recorder: Recorder, open_model) -> None:
    recorder.reply(sse=fixture_text("anthropic_messages_stream.sse").split("event: message_delta")[0])
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi", stream=True, max_tokens=20))
    assert "the stream ended before the answer was complete" in err.value.one_line()


def test_401_is_exit_3_naming_the_key(recorder: Recorder, open_model) -> None:
    recorder.reply(401, json_body=fixture_json("anthropic_error_401.json"))
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    with pytest.raises(AuthError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 3
    assert err.value.one_line() == ("anthropic:claude-sonnet-4-5: authentication failed (401): invalid x-api-key "
                                    "(check ANTHROPIC_API_KEY)")


def test_429_is_retried_then_answered(recorder: Recorder, open_model) -> None:
    recorder.reply(429, json_body=fixture_json("anthropic_error_429.json"), headers={"retry-after": "0"})
    recorder.reply(json_body=fixture_json("anthropic_messages.json"))
    ref, provider = open_model("anthropic:claude-sonnet-4-5", max_retries=2)
    assert provider.complete(ref, CompletionRequest("hi")).text.startswith("Byte-pair")
    assert len(recorder.requests) == 2


def test_429_after_retries_is_exit_4(recorder: Recorder, open_model) -> None:
    recorder.reply(429, json_body=fixture_json("anthropic_error_429.json"), headers={"retry-after": "0"})
    ref, provider = open_model("anthropic:claude-sonnet-4-5", max_retries=1)
    with pytest.raises(RateLimitError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4 and len(recorder.requests) == 2
    assert err.value.one_line().startswith("anthropic:claude-sonnet-4-5: rate limited (429) after 2 attempt(s): "
                                           "This request would exceed the rate limit")


@pytest.mark.parametrize(("status", "fixture", "message"), [(500, "anthropic_error_500.json", "Internal server error"),
                                                             (529, "anthropic_error_529.json", "Overloaded")])
def test_5xx_after_retries_is_exit_4(recorder: Recorder, open_model, status: int, fixture: str, message: str) -> None:
    recorder.reply(status, json_body=fixture_json(fixture))
    ref, provider = open_model("anthropic:claude-sonnet-4-5", max_retries=2)
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4
    assert err.value.one_line() == (f"anthropic:claude-sonnet-4-5: server error ({status}) after 3 attempt(s): "
                                    f"{message}")
    assert len(recorder.requests) == 3


@pytest.mark.parametrize(("request_", "line"), [
    (CompletionRequest("hi", seed=3), "--seed is not supported by the Anthropic API (anthropic:claude-sonnet-4-5)"),
    (CompletionRequest("hi", temperature=1.5), "--temperature must be between 0 and 1 for anthropic, not 1.5"),
    (CompletionRequest("hi", max_tokens=64001), "--max-tokens 64001 is more than anthropic:claude-sonnet-4-5 can "
                                                "write (64000)"),
])
def test_what_the_api_refuses_is_exit_2_before_sending(recorder: Recorder, open_model, request_: CompletionRequest,
                                                       line: str) -> None:
    recorder.reply(json_body=fixture_json("anthropic_messages.json"))
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    with pytest.raises(UsageError) as err:
        provider.complete(ref, request_)
    assert err.value.one_line() == line
    assert recorder.requests == []


def test_missing_key_is_exit_3(recorder: Recorder, open_model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    ref, provider = open_model("anthropic:claude-sonnet-4-5")
    with pytest.raises(AuthError) as err:
        provider.load(ref)
    assert err.value.one_line() == ("ANTHROPIC_API_KEY is not set; anthropic needs an API key "
                                    "(export ANTHROPIC_API_KEY=... in your shell)")


def test_counts_go_to_the_count_endpoint_with_a_key(recorder: Recorder) -> None:
    from llmctl.providers.registry import resolve_model

    recorder.reply(json_body=fixture_json("anthropic_count_tokens.json"))
    tokenizer = get_tokenizer(resolve_model("anthropic:claude-sonnet-4-5"), {"transport": recorder.transport})
    assert tokenizer.count("Frogs sing at night.") == 14
    assert not tokenizer.estimated
    sent = recorder.requests[0]
    assert str(sent.url) == "https://api.anthropic.com/v1/messages/count_tokens"
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert recorder.body() == {"model": "claude-sonnet-4-5",
                               "messages": [{"role": "user", "content": "Frogs sing at night."}]}


def test_a_count_is_sent_again_after_a_read_timeout(recorder: Recorder) -> None:
    import httpx2

    from llmctl.providers.registry import resolve_model

    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("read timed out", request=request)

    recorder.answer_with(timeout)
    recorder.reply(json_body=fixture_json("anthropic_count_tokens.json"))
    tokenizer = get_tokenizer(resolve_model("anthropic:claude-sonnet-4-5"),
                              {"transport": recorder.transport, "backoff_base": 0.001})
    # A count is free and changes nothing: unlike a generation, it is safe to send twice.
    assert tokenizer.count("Frogs") == 14
    assert len(recorder.requests) == 2


def test_a_generation_is_not_sent_again_after_a_read_timeout(recorder: Recorder, open_model) -> None:
    import httpx2

    from llmctl.core.errors import NetworkError

    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("read timed out", request=request)

    recorder.answer_with(timeout)
    ref, provider = open_model("anthropic:claude-sonnet-4-5", max_retries=3)
    with pytest.raises(NetworkError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert "it was not sent again, since the provider may already bill it" in err.value.one_line()
    assert len(recorder.requests) == 1


def test_without_a_key_counts_are_estimated_offline(recorder: Recorder, monkeypatch: pytest.MonkeyPatch,
                                                    real_tiktoken) -> None:
    from llmctl.providers.registry import resolve_model

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    tokenizer = get_tokenizer(resolve_model("anthropic:claude-sonnet-4-5"))
    text = "Frogs sing at night, and the pond answers."
    assert tokenizer.count(text) == len(real_tiktoken["o200k_base"].encode(text))
    assert tokenizer.estimated and tokenizer.name == "tiktoken:o200k_base"
    with pytest.raises(UsageError) as err:
        tokenizer.encode(text)
    assert err.value.one_line() == ("anthropic:claude-sonnet-4-5: Anthropic publishes no tokenizer, so llmctl can "
                                    "count its tokens but not show or decode them")
    assert recorder.requests == []
