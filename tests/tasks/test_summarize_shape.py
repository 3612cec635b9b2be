"""`llmctl summarize` keeps its promises whatever the model answers: finish_reason, --max-words within
its tolerance (or the record says it was exceeded), --style bullets, no copy of the input; then the
same on the embedded SmolLM2 for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tasks_support import fixture_json, run_cli

# 130 words, 7 sentences, news-like (the case: --max-words 30 gave 70 words).
PARAGRAPH = (
    "The town council of Millbrook voted on Tuesday to close the old swimming pool on River Street at the end "
    "of the summer. The pool, built in 1962, needs repairs that engineers estimate at two million pounds. "
    "That is more than the council spends on leisure in five years. Councillors said they would instead spend "
    "part of the money on a new splash park beside the library. They also promised free bus passes to the "
    "leisure centre in the next town. Parents who had campaigned to save the pool said they were disappointed "
    "and would keep looking for a charity or a business to take it over. The vote passed by nine votes to "
    "four after a long debate that went on until almost midnight in the crowded town hall.")


def _reply(content: str, finish: str = "stop") -> dict:
    body = fixture_json("openai_structured.json")
    body["choices"][0]["message"]["content"] = content
    body["choices"][0]["finish_reason"] = finish
    return body


def _words(text: str) -> int:
    return sum(len(line.removeprefix("- ").split()) for line in text.splitlines())


@pytest.fixture
def summarize(recorder, wire_cli, keys):
    def run(answer: str, *args: str, finish: str = "stop"):
        recorder.reply(json_body=_reply(answer, finish))
        result = wire_cli("summarize", "--json", "--no-cache", "-m", "openai:gpt-4o-mini", *args, PARAGRAPH)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout), result.stderr
    return run


def test_seventy_words_for_max_words_30_become_whole_sentences_within_tolerance(summarize) -> None:
    answer = ("Millbrook council voted to close the 1962 River Street pool at the end of summer. Repairs would "
              "cost two million pounds, more than five years of the leisure budget. The money will go to a "
              "splash park beside the library and free bus passes to the next town's leisure centre. Parents "
              "who campaigned to save the pool are disappointed and will look for a charity or business to run "
              "it.")
    assert _words(answer) == 70
    record, _ = summarize(answer, "--max-words", "30")
    # The first two sentences: 15 + 14 words; the third would take it to 47, over 30 + 10%.
    assert record["summary"] == ("Millbrook council voted to close the 1962 River Street pool at the end of summer. "
                                 "Repairs would cost two million pounds, more than five years of the leisure budget.")
    assert record["words"] == 29 and record["max_words_exceeded"] is False
    assert record["finish_reason"] == "stop" and record["method"] == "model"


def test_one_sentence_over_the_limit_is_kept_and_the_record_says_so(summarize) -> None:
    answer = ("Millbrook council voted on Tuesday to close the old River Street pool because repairs would cost "
              "two million pounds and spend the money on a splash park and bus passes instead.")
    record, stderr = summarize(answer, "--max-words", "10")
    assert record["summary"] == answer and record["words"] == 31
    assert record["max_words_exceeded"] is True
    assert ("openai:gpt-4o-mini: a summary has 31 words, over --max-words 10 and its 10% tolerance even as "
            "one sentence (max_words_exceeded in the record)") in stderr


def test_one_sentence_over_the_limit_gives_way_to_a_lead_sentence_that_holds_it(summarize) -> None:
    answer = ("Millbrook council voted on Tuesday to close the old River Street pool because repairs would cost "
              "two million pounds and spend the money on a splash park and bus passes instead.")
    record, _ = summarize(answer, "--max-words", "12")
    # The input's first sentence (23 words) is over 12 + 10% too; its second (14) holds it.
    assert record["summary"] == "The pool, built in 1962, needs repairs that engineers estimate at two million pounds."
    assert record["method"] == "extractive" and record["words"] == 14 and record["max_words_exceeded"] is False


def test_a_summary_cut_by_its_token_cap_says_so(summarize) -> None:
    record, stderr = summarize("Millbrook will close its old pool. The council will spend the", "--max-words", "20",
                               finish="length")
    assert record["finish_reason"] == "length"
    assert record["summary"] == "Millbrook will close its old pool."
    assert ('openai:gpt-4o-mini: a summary reached its 56-token cap and was cut (finish_reason "length"); '
            "its unfinished last sentence is dropped (raise --max-tokens for more room)") in stderr


def test_the_input_given_back_becomes_its_leading_sentences(summarize) -> None:
    record, stderr = summarize(PARAGRAPH, "--max-words", "25")
    assert record["method"] == "extractive"
    # The first sentence has 23 words; with the second (14 more) it would pass 25 + 10%.
    assert record["summary"] == PARAGRAPH.split(". ")[0] + "."
    assert record["words"] == 23 and record["max_words_exceeded"] is False
    assert stderr.count("gave the text back or could not keep to --max-words; the record holds the text's "
                        'leading sentences instead (method "extractive")') == 1


def test_style_bullets_is_honoured_when_the_model_writes_a_paragraph(summarize, recorder) -> None:
    answer = "The council will close the pool. Repairs cost too much. A splash park comes instead."
    record, _ = summarize(answer, "--style", "bullets")
    assert record["summary"].splitlines() == ["- The council will close the pool.", "- Repairs cost too much.",
                                              "- A splash park comes instead."]
    assert "bulleted list" in recorder.body()["messages"][-1]["content"]


def test_other_list_marks_become_dashes(summarize) -> None:
    listed, _ = summarize("* one point.\n* another point.", "--style", "bullets")
    assert listed["summary"] == "- one point.\n- another point."


# ---------------------------------------------------------------------- the embedded model
@pytest.mark.slow
def test_smollm2_summary_holds_max_words_and_has_finish_reason(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text(PARAGRAPH)
    result = run_cli("summarize", "--json", "-m", "smollm2", "-f", str(doc), "--max-words", "20")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["finish_reason"] in ("stop", "length")
    words = _words(record["summary"])
    assert words == record["words"] and 1 <= words <= 22
    assert record["max_words_exceeded"] is False
    assert record["summary"].strip() != PARAGRAPH and record["summary"][-1] in ".!?"
    bullets = run_cli("summarize", "--json", "-m", "smollm2", "-f", str(doc), "--max-words", "30", "--style",
                      "bullets")
    assert bullets.exit_code == 0, bullets.stderr
    lines = json.loads(bullets.stdout)["summary"].splitlines()
    assert lines and all(line.startswith("- ") and len(line) > 2 for line in lines)
