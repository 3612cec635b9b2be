"""summarize and ner on long generated documents: chunks within the window, every call counted,
offsets mapped back; HF token heads against the transformers pipeline; the embedded GGUF for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from support.tasks_support import long_document, run_cli

from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers.registry import get_provider, resolve_model
from llmctl.tasks.chunking import split_text
from llmctl.tasks.metrics import ner_metrics
from llmctl.tasks.ner import NerSpec, locate, ner
from llmctl.tasks.summarize import SummarySpec, summarize


def _spy(provider: Any) -> list[tuple[Any, Any]]:
    """Keep every (request, completion) of the real provider's calls."""
    seen: list[tuple[Any, Any]] = []
    real = provider.complete

    def complete(ref: Any, request: Any, on_text: Any = None) -> Any:
        result = real(ref, request, on_text)
        seen.append((request, result))
        return result

    provider.complete = complete
    return seen


def test_chunks_cut_on_paragraphs_then_sentences_and_stay_in_budget() -> None:
    doc = long_document(10)
    words = lambda t: len(t.split())  # noqa: E731
    paragraphs = doc.split("\n\n")
    budget = 3 * max(words(p) for p in paragraphs)
    spans = split_text(doc, words, budget)
    # Whole paragraphs, packed greedily: each chunk is consecutive paragraphs and the next would not fit.
    index = 0
    for a, b in spans:
        chunk = doc[a:b].split("\n\n")
        assert chunk == paragraphs[index:index + len(chunk)]
        index += len(chunk)
        assert words(doc[a:b]) <= budget
        if index < len(paragraphs):
            assert words(doc[a:b]) + words(paragraphs[index]) + len(chunk) > budget
    assert index == len(paragraphs)
    small = split_text(doc, words, 25)
    assert all(doc[a:b].rstrip().endswith(".") for a, b in small)  # sentences stay whole
    assert "".join(doc[a:b] for a, b in small).replace(" ", "").replace("\n", "") == \
        doc.replace(" ", "").replace("\n", "")


@pytest.mark.parametrize("strategy", ["map-reduce", "refine"])
def test_long_document_is_summarised_in_chunks_that_fit_the_window(tiny_chat_model: Path,
                                                                   strategy: Literal["map-reduce", "refine"]) -> None:
    ref = resolve_model(f"hf:{tiny_chat_model}")
    provider = get_provider(ref, {})
    calls = _spy(provider)
    doc = long_document(24)
    tokenizer = provider.tokenizer(ref)
    assert tokenizer.count(doc) > 3 * 1024
    result = summarize(provider, ref, doc, SummarySpec(max_tokens=6, strategy=strategy))
    fields = result.fields
    assert fields["chunks"] > 3 and fields["strategy"] == strategy
    expected_calls = fields["chunks"] + 1 if strategy == "map-reduce" else fields["chunks"]
    assert result.calls == len(calls) == expected_calls
    total = Usage(0)
    for request, completion in calls:
        assert completion.usage.input_tokens + request.max_tokens <= 1024  # every call fit the window
        total = total + completion.usage
    assert (result.usage.input_tokens, result.usage.output_tokens) == (total.input_tokens, total.output_tokens)
    # Every paragraph reached the model exactly once, in order, in the chunk calls.
    chunk_calls = calls[:fields["chunks"]]
    joined = "".join(request.prompt for request, _ in chunk_calls)
    positions = [joined.find(p) for p in doc.split("\n\n")]
    assert -1 not in positions and positions == sorted(positions)
    # The final answer as one paragraph (an unfinished last sentence of a capped answer dropped).
    kept = fields["summary"].split()
    assert kept and kept == calls[-1][1].text.split()[:len(kept)]


def test_encoder_decoder_summarises_the_text_itself(tiny_seq2seq: Path) -> None:
    ref = resolve_model(f"hf:{tiny_seq2seq}")
    provider = get_provider(ref, {})
    calls = _spy(provider)
    doc = long_document(3)
    result = summarize(provider, ref, doc, SummarySpec(max_tokens=5))
    assert result.fields["chunks"] > 1
    first_request = calls[0][0]
    assert doc.startswith(first_request.prompt)  # no instruction: the chunk text alone
    assert result.calls == result.fields["chunks"] + 1


def test_max_words_zero_and_bad_style_exit_2() -> None:
    result = run_cli("summarize", "-m", "openai:gpt-4o-mini", "--max-words", "0", "some text")
    assert (result.exit_code, result.stderr) == (2, "llmctl: error: --max-words must be at least 1, not 0\n")
    result = run_cli("summarize", "-m", "openai:gpt-4o-mini", "--style", "poem", "some text")
    assert result.exit_code == 2 and "--style must be paragraph, bullets or headline" in result.stderr
    with pytest.raises(UsageError):
        SummarySpec(strategy="stuff").check()  # type: ignore[arg-type]


def test_locate_maps_mentions_in_order_and_drops_inventions() -> None:
    text = "Anna met Tomas in Lisbon. Later Anna went home."
    found, dropped = locate(text, [("Anna", "PER"), ("Tomas", "PER"), ("Paris", "LOC"), ("Anna", "PER"),
                                   ("Lisbon", "LOC"), ("Anna", "PER")], base=100)
    assert dropped == [{"text": "Paris", "type": "LOC"}]
    assert [(e["start"] - 100, e["end"] - 100, e["type"]) for e in found] == [
        (0, 4, "PER"), (9, 14, "PER"), (32, 36, "PER"), (18, 24, "LOC")]
    assert all(text[e["start"] - 100:e["end"] - 100] == e["text"] for e in found)


def test_locate_ignores_case_spacing_and_edge_marks_and_a_repeat_is_not_a_new_entity() -> None:
    text = "Barack Obama met the  United Nations in New York."
    named = [("barack obama", "PER"), ("United Nations", "ORG"), ("new york.", "LOC"), ("Barack Obama.", "PER"),
             ("'New York'", "LOC"), ("us", "LOC"), ("Chicago", "LOC")]
    found, dropped = locate(text, named)
    assert [(text[e["start"]:e["end"]], e["text"], e["type"]) for e in found] == [
        ("Barack Obama", "Barack Obama", "PER"), ("United Nations", "United Nations", "ORG"),
        ("New York", "New York", "LOC")]
    # "us" would only be inside a word; Chicago is nowhere; the repeats are neither found again nor dropped.
    assert dropped == [{"text": "us", "type": "LOC"}, {"text": "Chicago", "type": "LOC"}]


def test_token_head_entities_match_the_pipeline_across_chunks(tiny_ner_head: Path) -> None:
    from transformers import pipeline

    ref = resolve_model(f"hf:{tiny_ner_head}")
    provider = get_provider(ref, {})
    doc = long_document(6)
    result = ner(provider, ref, doc, NerSpec())
    assert result.fields["chunks"] > 1  # 128 positions: the document must be cut
    entities = result.fields["entities"]
    assert entities and all(doc[e["start"]:e["end"]] == e["text"] for e in entities)
    reference = pipeline("token-classification", model=str(tiny_ner_head), aggregation_strategy="simple",
                         device="cpu")
    tokenizer = provider.tokenizer(ref)
    expected = []
    for a, b in split_text(doc, tokenizer.count, 128 - 4):
        expected += [(a + int(e["start"]), a + int(e["end"]), e["entity_group"]) for e in reference(doc[a:b])]
    assert [(e["start"], e["end"], e["type"]) for e in entities] == expected
    kind = entities[0]["type"]
    only = ner(provider, ref, doc, NerSpec([kind]))
    assert only.fields["entities"] == [e for e in entities if e["type"] == kind]


def test_ner_metrics_match_seqeval_on_word_aligned_spans() -> None:
    from seqeval.metrics import f1_score, precision_score, recall_score

    text = "Anna Berg met Tomas in Lisbon at Acme Mills"
    words, starts, cursor = text.split(), [], 0
    for w in words:
        starts.append(text.index(w, cursor))
        cursor = starts[-1] + len(w)

    def span(first: int, last: int, kind: str) -> dict:
        return {"start": starts[first], "end": starts[last] + len(words[last]), "type": kind}

    def bio(entities: list[dict]) -> list[str]:
        tags = ["O"] * len(words)
        for e in entities:
            inside = [i for i, s in enumerate(starts) if e["start"] <= s < e["end"]]
            tags[inside[0]] = f"B-{e['type']}"
            for i in inside[1:]:
                tags[i] = f"I-{e['type']}"
        return tags

    gold = [[span(0, 1, "PER"), span(3, 3, "PER"), span(5, 5, "LOC"), span(7, 8, "ORG")]]
    predicted = [[span(0, 0, "PER"), span(3, 3, "PER"), span(5, 5, "ORG"), span(7, 8, "ORG")]]
    mine = ner_metrics(gold, predicted)
    g, p = [bio(gold[0])], [bio(predicted[0])]
    assert mine["precision"] == pytest.approx(precision_score(g, p), abs=1e-4)
    assert mine["recall"] == pytest.approx(recall_score(g, p), abs=1e-4)
    assert mine["f1"] == pytest.approx(f1_score(g, p), abs=1e-4)


@pytest.mark.slow
def test_gguf_ner_offsets_point_into_the_text_and_none_is_an_empty_list(gguf_smollm2) -> None:
    ref, provider = gguf_smollm2
    text = "Barack Obama was born in Hawaii and served as the 44th President of the United States."
    result = ner(provider, ref, text, NerSpec())
    for e in result.fields["entities"]:
        assert text[e["start"]:e["end"]] == e["text"] and e["type"] in {"PER", "ORG", "LOC", "MISC"}
    assert result.fields["dropped"] >= 0
    empty = run_cli("ner", "--json", "-m", "smollm2", "...")
    assert empty.exit_code == 0
    record = json.loads(empty.stdout)
    assert isinstance(record["entities"], list)
    assert all(e["text"] in "..." for e in record["entities"])


@pytest.mark.slow
def test_gguf_summarize_and_ner_over_many_chunks(tmp_path: Path) -> None:
    doc = long_document(8)
    path = tmp_path / "doc.txt"
    path.write_text(doc)
    result = run_cli("summarize", "--json", "-m", "smollm2", "--n-ctx", "512", "--max-tokens", "12", "-f", str(path))
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["chunks"] > 1 and record["calls"] == record["chunks"] + 1
    assert record["usage"]["input_tokens"] > len(doc) // 8 and record["cost"]["local"] is True


@pytest.mark.slow
def test_gguf_ner_cli_header_offsets_and_verbose_dropped_entities() -> None:
    """On the embedded model: every entity's offsets map to the text (the model often changes case or
    adds a period), the TSV has its header even with no entity, and -v names what was dropped."""
    text = "paris is the capital of france, and berlin is the capital of germany."
    record_run = run_cli("ner", "--json", "-m", "smollm2", text)
    assert record_run.exit_code == 0, record_run.stderr
    record = json.loads(record_run.stdout)
    for e in record["entities"]:
        assert text[e["start"]:e["end"]] == e["text"]
    assert record["dropped"] == len(record["dropped_entities"])
    assert record_run.stderr.count("does ner poorly: entity F1") == 1
    tsv = run_cli("ner", "-v", "-m", "smollm2", text)
    assert tsv.exit_code == 0, tsv.stderr
    lines = tsv.stdout.splitlines()
    assert lines[0] == "start\tend\ttype\ttext" and len(lines) == 1 + len(record["entities"])
    for line in lines[1:]:
        start, end, _, shown = line.split("\t")
        assert " ".join(text[int(start):int(end)].split()) == shown
    for lost in record["dropped_entities"]:
        assert f"· dropped (not in the text): {lost['type']}\t{lost['text']!r}" in tsv.stderr
    none = run_cli("ner", "-m", "smollm2", "...")
    assert none.exit_code == 0 and none.stdout.startswith("start\tend\ttype\ttext\n")
