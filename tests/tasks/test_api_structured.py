"""Structured answers and label scores on the API backends, from recorded responses through an httpx2 MockTransport."""

from __future__ import annotations

import json
import math

import pytest
from support.tasks_support import fixture_json

from llmctl.core.errors import UsageError
from llmctl.providers.base import CompletionRequest
from llmctl.tasks.classify import ClassifySpec, classify
from llmctl.tasks.result import InvalidAnswerError

pytestmark = pytest.mark.usefixtures("keys")


def _chat(content: str, prompt_tokens: int = 50, completion_tokens: int = 5) -> dict:
    body = fixture_json("openai_structured.json")
    body["choices"][0]["message"]["content"] = content
    body["usage"].update(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                         total_tokens=prompt_tokens + completion_tokens)
    return body


def test_openai_strict_json_schema_is_sent_and_the_answer_validated(recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_structured.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    result = classify(provider, ref, "Very bad movie", ClassifySpec(["pos", "neg"]))
    sent = recorder.body()
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True, "schema": {
            "type": "object", "properties": {"label": {"enum": ["pos", "neg"], "type": "string"}},
            "required": ["label"], "additionalProperties": False}}}
    assert sent["temperature"] == 0.0
    assert "Text: Very bad movie" in sent["messages"][-1]["content"]
    assert result.fields == {"label": "neg", "scores": None}
    assert (result.usage.input_tokens, result.usage.output_tokens, result.calls) == (97, 6, 1)


def test_openai_logprobs_request_and_parsed_tokens(recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_logprobs.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    completion = provider.complete(ref, CompletionRequest("label?", max_tokens=1, logprobs=5))
    assert recorder.body()["logprobs"] is True and recorder.body()["top_logprobs"] == 5
    assert completion.logprobs is not None and len(completion.logprobs) == 1
    first = completion.logprobs[0]
    assert (first.token, first.logprob) == ("neg", -0.038)
    assert first.top[:2] == (("neg", -0.038), ("pos", -3.513))


def test_openai_scores_come_from_top_logprobs(recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_logprobs.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    result = classify(provider, ref, "Very bad movie", ClassifySpec(["pos", "neg"], scores=True))
    sent = recorder.body()
    assert (sent["max_completion_tokens"], sent["logprobs"], sent["top_logprobs"]) == (1, True, 20)
    assert "response_format" not in sent
    # Every alternative whose text starts a label counts for it: neg, Neg and negative for "neg".
    top = fixture_json("openai_logprobs.json")["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    mass = {"pos": 0.0, "neg": 0.0}
    for alt in top:
        for label in mass:
            if alt["token"].strip() and label.startswith(alt["token"].strip().lower()):
                mass[label] += math.exp(alt["logprob"])
    expected = {k: v / sum(mass.values()) for k, v in mass.items()}
    assert result.fields["label"] == "neg"
    assert result.fields["scores"] == pytest.approx(expected, abs=1e-6)


def test_mistral_json_schema_mode_multi_label(recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("mistral_json_schema.json"))
    ref, provider = open_model("mistral:mistral-small-latest")
    spec = ClassifySpec(["billing", "bug", "feature"], multi_label=True)
    result = classify(provider, ref, "I was charged twice and the app crashed", spec)
    sent = recorder.body()
    assert sent["response_format"]["type"] == "json_schema"
    schema = sent["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["labels"]["items"]["enum"] == ["billing", "bug", "feature"]
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert result.fields == {"labels": ["billing", "bug"], "scores": None}
    assert (result.usage.input_tokens, result.usage.output_tokens) == (88, 14)


def test_mistral_scores_is_refused_naming_the_backends_that_have_them(open_model) -> None:
    ref, provider = open_model("mistral:mistral-small-latest")
    with pytest.raises(UsageError, match="gguf, hf .* and openai"):
        classify(provider, ref, "x", ClassifySpec(["a", "b"], scores=True))


def test_invalid_answer_is_retried_once_with_the_error(recorder, open_model) -> None:
    recorder.reply(json_body=_chat('{"label": "maybe"}', 40, 4)).reply(json_body=_chat('{"label": "pos"}', 60, 4))
    ref, provider = open_model("openai:gpt-4o-mini")
    result = classify(provider, ref, "Great film", ClassifySpec(["pos", "neg"]))
    assert result.fields["label"] == "pos"
    assert (result.calls, result.usage.input_tokens, result.usage.output_tokens) == (2, 100, 8)
    retry = recorder.body(1)["messages"]
    assert retry[-2] == {"role": "assistant", "content": '{"label": "maybe"}'}
    assert retry[-1]["content"].startswith("That answer is not valid: label: Input should be 'pos' or 'neg'")


def test_an_answer_that_stays_invalid_fails_with_its_usage(recorder, open_model) -> None:
    recorder.reply(json_body=_chat("not json at all", 40, 4))
    ref, provider = open_model("openai:gpt-4o-mini")
    with pytest.raises(InvalidAnswerError, match="did not validate after one retry") as info:
        classify(provider, ref, "Great film", ClassifySpec(["pos", "neg"]))
    assert (info.value.calls, info.value.usage.input_tokens) == (2, 80)
    assert len(recorder.requests) == 2


def test_backend_without_constrained_decoding_falls_back_to_prompt_and_parse(recorder,
                                                                              open_model) -> None:
    body = fixture_json("openai_structured.json")
    completion = {"id": "cmpl-1", "object": "text_completion", "created": 1750412833,
                  "model": "gpt-3.5-turbo-instruct",
                  "choices": [{"index": 0, "text": ' Sure: ```json\n{"label": "pos"}\n```', "logprobs": None,
                               "finish_reason": "stop"}],
                  "usage": body["usage"]}
    recorder.reply(json_body=completion)
    ref, provider = open_model("openai:gpt-3.5-turbo-instruct")
    result = classify(provider, ref, "Great film", ClassifySpec(["pos", "neg"]))
    sent = recorder.body()
    assert "response_format" not in sent
    schema = json.loads(sent["prompt"].rsplit("\n", 1)[1])  # the schema closes the prompt
    assert schema["properties"]["label"]["enum"] == ["pos", "neg"]
    assert result.fields["label"] == "pos"
    assert any("cannot constrain its answer to a JSON schema" in w for w in provider.drain_warnings())


def test_few_shot_examples_are_in_the_prompt(recorder, open_model, tmp_path) -> None:
    from llmctl.tasks.labels import load_examples

    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"text": "Loved it", "label": "pos"}\n\n{"text": "Dreadful", "label": "neg"}\n')
    examples = load_examples(str(shots), ["pos", "neg"], multi_label=False)
    recorder.reply(json_body=fixture_json("openai_structured.json"))
    ref, provider = open_model("openai:gpt-4o-mini")
    classify(provider, ref, "Very bad movie", ClassifySpec(["pos", "neg"], examples=examples))
    prompt = recorder.body()["messages"][-1]["content"]
    assert 'Text: Loved it\nAnswer: {"label": "pos"}\nText: Dreadful\nAnswer: {"label": "neg"}' in prompt
    assert prompt.index("Dreadful") < prompt.index("Text: Very bad movie")
