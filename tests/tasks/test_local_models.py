"""classify on local models: the embedded SmolLM2 GGUF (grammar-constrained answers, label scores),
SmolLM2 as an HF folder (llguidance, KV-reused scores), and tiny HF heads checked against transformers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from llmctl.providers.base import CompletionRequest
from llmctl.providers.registry import get_provider, resolve_model
from llmctl.tasks.classify import ClassifySpec, _generate, classify, classify_many

TEXTS = ["Very bad movie, I want my money back.", "A wonderful film, I loved every minute.",
         "The invoice charged me twice.", "The app crashes when I open settings."]
LABELS = ["pos", "neg"]


def _log_softmax(row: list[float]) -> list[float]:
    peak = max(row)
    total = math.log(sum(math.exp(v - peak) for v in row))
    return [v - peak - total for v in row]


@pytest.mark.slow
def test_gguf_grammar_answers_parse_and_stay_in_the_label_set(gguf_smollm2) -> None:
    ref, provider = gguf_smollm2
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["billing", "bug", "feature"]}},
              "required": ["label"], "additionalProperties": False}
    for text in TEXTS:
        completion = provider.complete(ref, CompletionRequest(f"Label this ticket: {text}", json_schema=schema,
                                                              temperature=0.9, seed=3, max_tokens=40))
        assert json.loads(completion.text)["label"] in {"billing", "bug", "feature"}
    for text in TEXTS:
        multi = classify(provider, ref, text, ClassifySpec(["billing", "bug", "feature"], multi_label=True,
                                                           explain=True))
        assert set(multi.fields["labels"]) <= {"billing", "bug", "feature"}
        assert isinstance(multi.fields["reason"], str)


@pytest.mark.slow
def test_gguf_scores_match_llama_cpp_evaluating_every_position(gguf_smollm2) -> None:
    """The prompt is evaluated once and its KV state reused; the reference evaluates prompt + label
    afresh with llama.cpp keeping the logits of every position."""
    from llmctl.providers.gguf.engine import open_llama

    ref, provider = gguf_smollm2
    labels = ["positive", "negative", "neutral", "mixed feelings"]
    request = CompletionRequest("Is this review positive or negative? 'Very bad movie'. Answer:")
    scored = provider.score_continuations(ref, request, labels)
    tokens, _ = provider.prompt_tokens(ref, request)
    # Opened as llmctl opens models (same CPU kernels), but keeping the logits of every position.
    reference = open_llama(ref.model, n_ctx=provider.n_ctx(ref), n_threads=provider.thread_count(),
                           logits_all=True)
    try:
        for label, got in zip(labels, scored.logprobs, strict=True):
            ids = reference.tokenize(label.encode(), add_bos=False, special=False)
            reference.reset()
            reference.eval(tokens + ids)
            want = sum(_log_softmax(reference.scores[len(tokens) - 1 + i].tolist())[t] for i, t in enumerate(ids))
            assert got == pytest.approx(want, abs=2e-3)
    finally:
        reference.close()
    assert scored.usage.input_tokens >= len(tokens)

    result = classify(provider, ref, "Very bad movie", ClassifySpec(LABELS, scores=True))
    assert set(result.fields["scores"]) == set(LABELS)
    assert sum(result.fields["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    assert result.fields["label"] == max(result.fields["scores"], key=result.fields["scores"].get)


@pytest.mark.slow
def test_gguf_classify_answer_does_not_depend_on_label_order(gguf_smollm2) -> None:
    """By generation the 135M model answered the first label it read, whatever the text (24 of 24 in
    benchmarks/bench_tasks.py); by label scores the answer is the text's, in either order."""
    ref, provider = gguf_smollm2
    cases = [("Very bad movie, I want my money back.", "negative"),
             ("A wonderful film, I loved every minute.", "positive")]
    for labels in (["positive", "negative"], ["negative", "positive"]):
        for text, want in cases:
            result = classify(provider, ref, text, ClassifySpec(labels))
            assert result.fields["label"] == want, (labels, text)
            assert result.fields["scores"] is None  # asked for with --scores only
    scored = classify(provider, ref, cases[0][0], ClassifySpec(["negative", "positive"], scores=True))
    assert list(scored.fields["scores"]) == ["negative", "positive"]
    assert scored.fields["scores"]["negative"] > 0.5


@pytest.fixture(scope="module")
def hf_smollm2(smollm2_hf_dir: Path):
    ref = resolve_model(f"hf:{smollm2_hf_dir}")
    provider = get_provider(ref, {})
    provider.load(ref)
    return ref, provider


@pytest.mark.slow
def test_hf_scores_with_one_cached_prompt_match_full_forward_passes(hf_smollm2) -> None:
    import torch

    ref, provider = hf_smollm2
    labels = ["positive", "negative", "not sure at all"]
    request = CompletionRequest("Is 'Very bad movie' positive or negative? Answer:")
    scored = provider.score_continuations(ref, request, labels)
    loaded = provider._load(ref)
    tok = loaded.tokenizer
    prompt = tok(tok.apply_chat_template(request.messages(), add_generation_prompt=True, tokenize=False),
                 add_special_tokens=False)["input_ids"]
    for label, got in zip(labels, scored.logprobs, strict=True):
        ids = tok(label, add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            logits = loaded.model(input_ids=torch.tensor([prompt + ids])).logits[0]
        rows = torch.log_softmax(logits.float(), dim=-1)
        want = sum(float(rows[len(prompt) - 1 + i, t]) for i, t in enumerate(ids))
        assert got == pytest.approx(want, abs=1e-3)


@pytest.mark.slow
def test_hf_llguidance_answers_validate(hf_smollm2) -> None:
    ref, provider = hf_smollm2
    assert provider.constrains_json(ref)
    for text in TEXTS[:2]:
        # The generation path (a local model scores labels by default): one grammar-bound answer.
        result = _generate(provider, ref, text, ClassifySpec(LABELS, explain=True), LABELS)
        assert result.fields["label"] in LABELS and isinstance(result.fields["reason"], str)
        assert result.calls == 1


@pytest.mark.slow
def test_sequence_classification_head_matches_the_transformers_pipeline(tiny_sentiment_head: Path) -> None:
    from transformers import pipeline

    ref = resolve_model(f"hf:{tiny_sentiment_head}")
    provider = get_provider(ref, {})
    results = classify_many(provider, ref, TEXTS, ClassifySpec(None))
    reference = pipeline("text-classification", model=str(tiny_sentiment_head), top_k=None, device="cpu")
    wanted: list[list[dict[str, Any]]] = reference(TEXTS)  # type: ignore[assignment]  # untyped pipeline output
    for result, want in zip(results, wanted, strict=True):
        assert result.fields["scores"] == pytest.approx({w["label"]: w["score"] for w in want}, abs=1e-5)
        assert result.fields["label"] == max(want, key=lambda w: w["score"])["label"]
    one = classify(provider, ref, TEXTS[0], ClassifySpec(None))
    assert reference.tokenizer is not None
    assert one.fields["scores"] == pytest.approx(results[0].fields["scores"], abs=1e-5)
    assert one.usage.input_tokens == len(reference.tokenizer(TEXTS[0])["input_ids"])


@pytest.mark.slow
def test_nli_zero_shot_matches_the_transformers_pipeline(tiny_nli_head: Path) -> None:
    from transformers import pipeline

    ref = resolve_model(f"hf:{tiny_nli_head}")
    provider = get_provider(ref, {})
    labels = ["sport", "politics", "cooking"]
    reference = pipeline("zero-shot-classification", model=str(tiny_nli_head), device="cpu")
    for multi in (False, True):
        result = classify(provider, ref, "The match ended 2-1", ClassifySpec(labels, multi_label=multi))
        want = reference("The match ended 2-1", candidate_labels=labels, hypothesis_template="This text is about {}.",
                         multi_label=multi)
        assert result.fields["scores"] == pytest.approx(dict(zip(want["labels"], want["scores"], strict=True)),
                                                        abs=1e-5)


@pytest.mark.slow
def test_heads_through_the_cli(tiny_sentiment_head: Path, tiny_nli_head: Path, tmp_path: Path) -> None:
    from support.tasks_support import run_cli

    result = run_cli("classify", "--json", "-m", f"hf:{tiny_sentiment_head}", "I love using transformer models!")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record["scores"]) == {"NEGATIVE", "POSITIVE"} and record["cost"]["local"] is True
    refused = run_cli("classify", "-m", f"hf:{tiny_sentiment_head}", "--labels", "a,b", "text")
    assert refused.exit_code == 2
    assert "is a classification head with its own labels (NEGATIVE, POSITIVE); drop --labels" in refused.stderr
    no_labels = run_cli("classify", "-m", f"hf:{tiny_nli_head}", "The match ended 2-1")
    assert no_labels.exit_code == 2 and "give the candidate labels with --labels" in no_labels.stderr
    batch = tmp_path / "b.jsonl"
    batch.write_text("".join(json.dumps({"id": i, "text": t, "gold": "POSITIVE"}) + "\n" for i, t in enumerate(TEXTS)))
    scored = run_cli("classify", "--json", "-m", f"hf:{tiny_sentiment_head}", "--jsonl", str(batch), "--gold", "gold")
    lines = [json.loads(line) for line in scored.stdout.splitlines()]
    assert [r["id"] for r in lines[:-1]] == [0, 1, 2, 3]
    assert lines[-1]["metrics"]["records"] == 4 and lines[-1]["metrics"]["cost"] == 0
