"""The openai provider against fixtures in OpenAI's wire format, through an httpx2 MockTransport."""

from __future__ import annotations

import json
import math

import pytest
from support.api_wire import OPENAI_KEY, Recorder, fixture_json, fixture_text

from llmctl.core.config import get_config
from llmctl.core.errors import AuthError, InputError, ProviderError, RateLimitError, UsageError
from llmctl.core.pricing import PriceTable
from llmctl.providers.base import CompletionRequest, EmbeddingRequest

pytestmark = pytest.mark.usefixtures("keys")


def test_chat_request_and_answer(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    request = CompletionRequest("Tell me a story", system="Be brief", max_tokens=50, temperature=0.2,
                                top_p=0.9, stop=["\n\n", "THE END"], seed=7)
    result = provider.complete(ref, request)

    sent = recorder.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert recorder.body() == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Tell me a story"}],
        "max_completion_tokens": 50, "temperature": 0.2, "top_p": 0.9, "stop": ["\n\n", "THE END"], "seed": 7,
    }
    assert result.text == "Under the moon, the frogs held a concert."
    assert result.finish_reason == "stop"
    assert result.response_model == "gpt-4o-mini-2024-07-18"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1117, 11)
    assert result.usage.cached_input_tokens == 1024
    assert result.usage.estimated is False
    # 93 uncached tokens at $0.15/M, 1024 cached at $0.075/M, 11 out at $0.60/M.
    cost = PriceTable(get_config()).cost_of(ref.provider, ref.model, result.usage)
    assert str(cost.total) == "0.00009735"


def test_stream_delivers_deltas_and_final_usage(recorder: Recorder, open_model) -> None:
    recorder.reply(sse=fixture_text("openai_chat_stream.sse"))
    ref, provider = open_model("openai:gpt-4o-mini")
    seen: list[str] = []
    result = provider.complete(ref, CompletionRequest("hi", stream=True), seen.append)
    assert recorder.body()["stream"] is True
    assert recorder.body()["stream_options"] == {"include_usage": True}
    assert seen == ["Frogs", " sing", " at night."]
    assert result.text == "Frogs sing at night."
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.estimated) == (12, 5, False)


def test_stream_without_usage_is_counted_and_marked_estimated(recorder: Recorder, open_model) -> None:
    stream = "".join(line + "\n\n" for line in fixture_text("openai_chat_stream.sse").split("\n\n")
                     if line and '"choices": []' not in line)
    recorder.reply(sse=stream)
    ref, provider = open_model("openai:gpt-4o-mini")
    result = provider.complete(ref, CompletionRequest("Tell me a story", stream=True))
    tokenizer = provider.tokenizer(ref)
    assert result.usage.estimated is True
    # OpenAI's documented chat framing: 3 tokens per message (plus its role and text), 3 to prime the reply.
    assert result.usage.input_tokens == 3 + tokenizer.count("user") + tokenizer.count("Tell me a story") + 3
    assert result.usage.output_tokens == tokenizer.count("Frogs sing at night.")
    assert result.usage.tokenizer == "tiktoken:o200k_base"
    assert result.usage.to_json()["tokenizer"] == "tiktoken:o200k_base"


def test_an_error_event_in_a_stream_fails_the_call(recorder: Recorder, open_model) -> None:
    # OpenAI reports a failure after the answer began as an event carrying an error object (the SDK's rule too).
    first = fixture_text("openai_chat_stream.sse").split("\n\n")[1]
    error = {"error": {"message": "The server had an error while streaming.", "type": "server_error"}}
    recorder.reply(sse=f"{first}\n\ndata: {json.dumps(error)}\n\n")
    ref, provider = open_model("openai:gpt-4o-mini")
    seen: list[str] = []
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi", stream=True), seen.append)
    assert seen == ["Frogs"]
    assert err.value.one_line() == "openai:gpt-4o-mini: the stream failed: The server had an error while streaming."


def test_the_request_goes_out_with_llmctls_name_and_no_sdk_headers(recorder: Recorder, open_model) -> None:
    from llmctl import __version__

    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    provider.complete(ref, CompletionRequest("hi"))
    headers = recorder.requests[0].headers
    assert headers["user-agent"] == f"llmctl/{__version__}"
    assert headers["content-type"] == "application/json"
    assert not [name for name in headers if name.lower().startswith(("x-stainless", "openai-"))]


def test_instruct_model_uses_the_completions_endpoint(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_completions.json"))
    ref, provider = open_model("openai:gpt-3.5-turbo-instruct")
    result = provider.complete(ref, CompletionRequest("Tell me a story", top_p=0.8, stop=["."], max_tokens=20))
    assert str(recorder.requests[0].url) == "https://api.openai.com/v1/completions"
    assert recorder.body() == {"model": "gpt-3.5-turbo-instruct", "prompt": "Tell me a story", "top_p": 0.8,
                               "stop": ["."], "max_tokens": 20}
    assert result.text == "Once upon a time, a frog sang"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (5, 8)


def test_embeddings_in_input_order_with_dimensions_and_normalize(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_embeddings.json"))
    ref, provider = open_model("openai:text-embedding-3-small")
    result = provider.embed(ref, EmbeddingRequest(["king", "queen", "apple"], dimensions=3, normalize=True))
    assert str(recorder.requests[0].url) == "https://api.openai.com/v1/embeddings"
    assert recorder.body() == {"model": "text-embedding-3-small", "input": ["king", "queen", "apple"],
                               "encoding_format": "float", "dimensions": 3}
    assert result.vectors == [[1.0, 0.0, 0.0], [0.0, 0.6, 0.8], [0.6, 0.8, 0.0]]
    assert result.usage.input_tokens == 3


def _echo_embeddings(request):  # type: ignore[no-untyped-def]
    import httpx2

    texts = json.loads(request.content)["input"]
    return httpx2.Response(200, json={
        "object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": i, "embedding": [float(t.split()[0]), 0.0]}
                 for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})


def test_embed_splits_by_input_count_and_keeps_order(recorder: Recorder, open_model) -> None:
    recorder.answer_with(_echo_embeddings)
    ref, provider = open_model("openai:text-embedding-3-small", concurrency=3)
    texts = [f"{i} item" for i in range(5000)]
    result = provider.embed(ref, EmbeddingRequest(texts))
    sizes = sorted(len(json.loads(r.content)["input"]) for r in recorder.requests)
    assert sizes == [904, 2048, 2048]
    assert [v[0] for v in result.vectors] == [float(i) for i in range(5000)]
    assert result.usage.input_tokens == 5000


def test_embed_splits_by_tokens_per_request(recorder: Recorder, open_model) -> None:
    recorder.answer_with(_echo_embeddings)
    ref, provider = open_model("openai:text-embedding-3-small")
    # 40 inputs of 8000 tokens each: 320,000 tokens, more than one request may carry (300,000).
    texts = [f"{i}" + " frog" * 7999 for i in range(40)]
    assert provider.tokenizer(ref).count(texts[0]) == 8000
    result = provider.embed(ref, EmbeddingRequest(texts))
    sizes = [len(json.loads(r.content)["input"]) for r in recorder.requests]
    assert sorted(sizes) == [3, 37]
    assert [v[0] for v in result.vectors] == [float(i) for i in range(40)]


def test_embed_refuses_an_input_over_the_model_limit(recorder: Recorder, open_model) -> None:
    recorder.answer_with(_echo_embeddings)
    ref, provider = open_model("openai:text-embedding-3-small")
    with pytest.raises(InputError) as err:
        provider.embed(ref, EmbeddingRequest(["short", " frog" * 9000]))
    assert err.value.one_line() == ("input 2 has 9000 tokens; openai:text-embedding-3-small embeds at most "
                                    "8191 tokens per input")
    assert recorder.requests == []


def test_dimensions_on_a_fixed_size_model_is_a_usage_error(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_embeddings.json"))
    ref, provider = open_model("openai:text-embedding-ada-002")
    with pytest.raises(UsageError) as err:
        provider.embed(ref, EmbeddingRequest(["a"], dimensions=256))
    assert err.value.exit_code == 2
    assert "fixed size (1536 dimensions)" in err.value.one_line()
    assert recorder.requests == []


@pytest.mark.parametrize(("request_", "message"), [
    (CompletionRequest("hi", top_k=40), "--top-k is not supported by the OpenAI API (openai:gpt-4o-mini)"),
    (CompletionRequest("hi", temperature=2.5), "--temperature must be between 0 and 2 for openai, not 2.5"),
    (CompletionRequest("hi", stop=["a", "b", "c", "d", "e"]), "OpenAI accepts at most 4 --stop sequences, not 5"),
    (CompletionRequest("   "), "empty prompt"),
])
def test_unsupported_or_out_of_range_options_exit_2(recorder: Recorder, open_model, request_, message) -> None:
    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    with pytest.raises(UsageError) as err:
        provider.complete(ref, request_)
    assert err.value.exit_code == 2
    assert err.value.one_line().startswith(message)
    assert recorder.requests == []


def test_400_shows_the_providers_message(recorder: Recorder, open_model) -> None:
    recorder.reply(400, json_body=fixture_json("openai_error_400.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    with pytest.raises(UsageError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 2
    assert err.value.one_line() == (
        "openai:gpt-4o-mini: the provider refused the request (400): Invalid 'messages[0].content': string too "
        "long. Expected a string with maximum length 10485760, but got a string with length 10485761 instead.")
    assert len(recorder.requests) == 1


def test_401_names_the_variable_and_never_the_key(recorder: Recorder, open_model) -> None:
    recorder.reply(401, json_body=fixture_json("openai_error_401.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    with pytest.raises(AuthError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    line = err.value.one_line()
    assert err.value.exit_code == 3
    assert line.startswith("openai:gpt-4o-mini: authentication failed (401): Incorrect API key provided: "
                           "[redacted]")
    assert line.endswith("(check OPENAI_API_KEY)")
    assert "CRET" not in line and OPENAI_KEY not in line
    assert len(recorder.requests) == 1


def test_429_is_retried_honouring_retry_after_ms(recorder: Recorder, open_model) -> None:
    recorder.reply(429, json_body=fixture_json("openai_error_429.json"), headers={"retry-after-ms": "30"})
    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("openai:gpt-4o-mini", max_retries=2)
    result = provider.complete(ref, CompletionRequest("hi"))
    assert len(recorder.requests) == 2
    assert result.text == "Under the moon, the frogs held a concert."


def test_429_after_every_retry_is_a_rate_limit_error(recorder: Recorder, open_model) -> None:
    recorder.reply(429, json_body=fixture_json("openai_error_429.json"), headers={"retry-after-ms": "1"})
    ref, provider = open_model("openai:gpt-4o-mini", max_retries=2)
    with pytest.raises(RateLimitError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4
    assert err.value.one_line().startswith("openai:gpt-4o-mini: rate limited (429) after 3 attempt(s): "
                                           "Rate limit reached for gpt-4o-mini")
    assert len(recorder.requests) == 3


def test_500_after_every_retry_is_a_provider_error(recorder: Recorder, open_model) -> None:
    recorder.reply(500, json_body=fixture_json("openai_error_500.json"))
    ref, provider = open_model("openai:gpt-4o-mini", max_retries=1)
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4
    assert err.value.one_line() == ("openai:gpt-4o-mini: server error (500) after 2 attempt(s): The server had "
                                    "an error while processing your request. Sorry about that!")
    assert len(recorder.requests) == 2


def test_missing_key_is_exit_3_naming_the_variable(recorder: Recorder, open_model,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    ref, provider = open_model("openai:gpt-4o-mini")
    with pytest.raises(AuthError) as err:
        provider.load(ref)
    assert err.value.exit_code == 3
    assert err.value.one_line() == ("OPENAI_API_KEY is not set; openai needs an API key "
                                    "(export OPENAI_API_KEY=... in your shell)")


def test_base_url_gets_no_key_at_all(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("openai:local", base_url="http://127.0.0.1:9/v1")
    provider.complete(ref, CompletionRequest("hi", top_k=20, max_tokens=5))
    sent = recorder.requests[0]
    assert str(sent.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert "authorization" not in sent.headers
    # Custom servers take max_tokens and get top_k in the body.
    assert recorder.body() == {"model": "local", "messages": [{"role": "user", "content": "hi"}],
                               "max_tokens": 5, "top_k": 20}


def test_profile_sends_its_own_key(recorder: Recorder, open_model, user_config,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    user_config('[profiles.vllm]\nkind = "openai"\nbase_url = "http://10.0.0.5:8000/v1"\nkey_env = "VLLM_KEY"\n')
    monkeypatch.setenv("VLLM_KEY", "vllm-secret-key-42")
    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("vllm:meta-llama/Llama-3.1-8B-Instruct")
    provider.complete(ref, CompletionRequest("hi"))
    sent = recorder.requests[0]
    assert str(sent.url) == "http://10.0.0.5:8000/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer vllm-secret-key-42"
    assert recorder.body()["model"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_profile_key_missing_is_exit_3(recorder: Recorder, open_model, user_config) -> None:
    user_config('[profiles.vllm]\nkind = "openai"\nbase_url = "http://10.0.0.5:8000/v1"\nkey_env = "VLLM_KEY"\n')
    ref, provider = open_model("vllm:llama")
    with pytest.raises(AuthError) as err:
        provider.load(ref)
    assert err.value.one_line() == ("VLLM_KEY is not set; the profile 'vllm' needs an API key "
                                    "(export VLLM_KEY=... in your shell)")


def test_verbose_trace_redacts_the_key(recorder: Recorder, open_model) -> None:
    lines: list[str] = []
    recorder.reply(500, json_body=fixture_json("openai_error_500.json"))
    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("openai:gpt-4o-mini", trace=lines.append, max_retries=1)
    provider.complete(ref, CompletionRequest("hi"))
    assert len(lines) == 2
    assert lines[0].startswith("POST https://api.openai.com/v1/chat/completions [")
    assert "authorization=[redacted]" in lines[0]
    assert " -> 500 after " in lines[0] and "retry 1/1 in " in lines[0]
    assert " -> 200 after " in lines[1] and lines[1].endswith("(attempt 2)")
    assert all(OPENAI_KEY not in line for line in lines)
    assert OPENAI_KEY not in repr(provider) and OPENAI_KEY not in repr(provider.client()._transport)


def test_body_that_is_not_json_is_exit_4(recorder: Recorder, open_model) -> None:
    recorder.reply(text="<html>upstream connect error</html>", headers={"content-type": "text/html"})
    ref, provider = open_model("openai:gpt-4o-mini")
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.exit_code == 4
    assert err.value.one_line() == ("openai:gpt-4o-mini: the server answered with a body that is not JSON "
                                    "(HTTP 200, text/html): '<html>upstream connect error</html>'")


def test_normalized_vectors_have_unit_length(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_embeddings.json"))
    ref, provider = open_model("openai:text-embedding-3-small")
    result = provider.embed(ref, EmbeddingRequest(["a", "b", "c"], normalize=True))
    assert [round(math.sqrt(sum(x * x for x in v)), 12) for v in result.vectors] == [1.0, 1.0, 1.0]
