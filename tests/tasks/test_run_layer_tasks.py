"""classify on the run layer: compare, --estimate, --max-cost, -o/--resume, the usage log and the cache."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx2
import pytest
from support.tasks_support import fixture_json

pytestmark = pytest.mark.usefixtures("keys")

LABELS = ["pos", "neg"]


def _answer_by_text(request: httpx2.Request) -> httpx2.Response:
    """A chat endpoint that answers pos for texts with "good", else neg, with the recorded reply's shape."""
    body = json.loads(request.content)
    text = body["messages"][-1]["content"].split("Text: ", 1)[1].split("\n", 1)[0]
    reply = fixture_json("openai_structured.json")
    reply["choices"][0]["message"]["content"] = json.dumps({"label": "pos" if "good" in text else "neg"})
    return httpx2.Response(200, json=reply)


def _jsonl(tmp_path: Path, texts: list[str], name: str = "batch.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps({"id": i + 1, "text": t}) + "\n" for i, t in enumerate(texts)))
    return str(path)


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _usage_rows(tmp_path: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(tmp_path / "xdg-data" / "llmctl" / "usage.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM calls ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.mark.slow
def test_compare_an_api_model_and_the_local_model_on_one_text(recorder, wire_cli) -> None:
    recorder.answer_with(_answer_by_text)
    result = wire_cli("classify", "--json", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "-m", "smollm2",
                      "a good film")
    assert result.exit_code == 0, result.stderr
    records = {r["model"]: r for r in _records(result.stdout)}
    assert set(records) == {"openai:gpt-4o-mini", "gguf:smollm2"}
    api, local = records["openai:gpt-4o-mini"], records["gguf:smollm2"]
    assert api["label"] == "pos" and api["usage"]["input_tokens"] == 97 and api["cost"]["total"] > 0
    # The local answer is grammar-constrained: one of the labels, whatever a 135M model thinks of it.
    assert local["label"] in LABELS and local["error"] is None and local["cost"]["local"] is True
    assert len(recorder.requests) == 1  # the local model answered without the API


def test_estimate_counts_the_prompt_the_task_builds_with_tiktoken(recorder, wire_cli) -> None:
    from llmctl.providers.openai.vocab import tiktoken_encoding

    recorder.answer_with(_answer_by_text)
    estimate = wire_cli("classify", "--estimate", "--json", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini",
                        "Very bad movie")
    assert estimate.exit_code == 0, estimate.stderr
    assert recorder.requests == []  # no network
    [row] = _records(estimate.stdout)
    # What the same command really sends, counted with tiktoken and OpenAI's chat framing.
    sent = wire_cli("classify", "--json", "--no-cache", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini",
                    "Very bad movie")
    assert sent.exit_code == 0
    body = recorder.body()
    encoding = tiktoken_encoding("o200k_base")  # tiktoken itself, on the bundled vocabulary
    framed = 3 + sum(3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"]))
                     for m in body["messages"])
    assert row["input_tokens"] == framed
    # The answer is bounded in the request itself, and the estimate's output range with it.
    assert row["max_output_tokens"] == body["max_completion_tokens"] == 64
    assert row["cost"]["min"] == pytest.approx(framed * 0.15e-6)
    # The worst case also holds a retry (an answer that fails validation is asked for once more).
    retry = row["retries_at_most"]
    assert retry["output_tokens"] == 64
    assert row["cost"]["max"] == pytest.approx((framed + retry["input_tokens"]) * 0.15e-6 + (64 + 64) * 0.60e-6)


def test_the_estimate_bounds_a_real_retry(recorder, wire_cli) -> None:
    """An answer that fails validation is sent again with the exchange and the problem: what that
    second request really carries (tiktoken on the wire body) stays within the estimate's retry bound."""
    from llmctl.providers.openai.vocab import tiktoken_encoding

    LONGEST_WRONG = "ok " * 63 + "ok"  # noqa: N806

    def bad_then_good(request: httpx2.Request) -> httpx2.Response:
        reply = fixture_json("openai_structured.json")
        wrong = len(recorder.requests) == 1
        # 64 tokens of an answer that is not the JSON asked for: the longest the request allows.
        reply["choices"][0]["message"]["content"] = LONGEST_WRONG if wrong else json.dumps({"label": "neg"})
        return httpx2.Response(200, json=reply)

    recorder.answer_with(bad_then_good)
    estimate = wire_cli("classify", "--estimate", "--json", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini",
                        "Very bad movie")
    [row] = _records(estimate.stdout)
    sent = wire_cli("classify", "--json", "--no-cache", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini",
                    "Very bad movie")
    assert sent.exit_code == 0, sent.stderr
    assert _records(sent.stdout)[0]["label"] == "neg" and len(recorder.requests) == 2
    body = json.loads(recorder.requests[1].content)
    encoding = tiktoken_encoding("o200k_base")
    framed = 3 + sum(3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"]))
                     for m in body["messages"])
    assert len(encoding.encode(LONGEST_WRONG)) == 64
    assert body["messages"][-2]["content"] == LONGEST_WRONG and "not valid" in body["messages"][-1]["content"]
    bound = row["retries_at_most"]["input_tokens"]
    assert framed <= bound <= framed + 204  # never under; over only by the room kept for the problem text
    assert row["retries_at_most"]["output_tokens"] == body["max_completion_tokens"] == 64


def test_max_cost_leaves_room_for_a_retry(recorder, wire_cli) -> None:
    """A limit that one attempt fits but an attempt and its retry do not: nothing is sent."""
    recorder.answer_with(_answer_by_text)
    estimate = wire_cli("classify", "--estimate", "--json", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini",
                        "Very bad movie")
    [row] = _records(estimate.stdout)
    one_attempt = row["input_tokens"] * 0.15e-6 + row["max_output_tokens"] * 0.60e-6
    assert row["cost"]["max"] > one_attempt * 1.5
    limit = f"{(one_attempt + row['cost']['max']) / 2:.10f}"
    result = wire_cli("classify", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "--max-cost", limit,
                      "Very bad movie")
    assert result.exit_code == 6, result.stderr
    assert recorder.requests == [] and "could cost up to" in result.stderr


def test_max_cost_refuses_before_sending(recorder, wire_cli, tmp_path: Path) -> None:
    recorder.answer_with(_answer_by_text)
    path = _jsonl(tmp_path, ["a good film", "dull", "good fun"])
    result = wire_cli("classify", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "--jsonl", path,
                      "--max-cost", "0.00001")
    assert result.exit_code == 6
    assert recorder.requests == [] and result.stdout == ""
    assert "--max-cost" in result.stderr


def test_output_then_resume_sends_only_what_is_missing(recorder, wire_cli, tmp_path: Path) -> None:
    recorder.answer_with(_answer_by_text)
    out = tmp_path / "labels.jsonl"
    first = wire_cli("classify", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "--no-cache",
                     "--jsonl", _jsonl(tmp_path, ["a good film", "dull"], "first.jsonl"), "-o", str(out))
    assert first.exit_code == 0 and first.stdout == ""
    assert len(recorder.requests) == 2
    texts = ["a good film", "dull", "good fun", "awful"]
    again = wire_cli("classify", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "--no-cache",
                     "--jsonl", _jsonl(tmp_path, texts), "-o", str(out), "--resume")
    assert again.exit_code == 0, again.stderr
    assert len(recorder.requests) == 4  # ids 3 and 4 only
    sent = [json.loads(r.content)["messages"][-1]["content"] for r in recorder.requests[2:]]
    assert all("good fun" in s or "awful" in s for s in sent)
    records = [r for r in _records(out.read_text()) if "id" in r]
    assert sorted(r["id"] for r in records) == [1, 2, 3, 4]
    assert {r["id"]: r["label"] for r in records} == {1: "pos", 2: "neg", 3: "pos", 4: "neg"}
    # Other labels are other settings: the file is refused, saying why.
    other = wire_cli("classify", "--labels", "pos,neg,mixed", "-m", "openai:gpt-4o-mini",
                     "--jsonl", _jsonl(tmp_path, texts), "-o", str(out), "--resume")
    assert other.exit_code == 2
    assert other.stderr == (f'llmctl: error: {out} was written with labels=["pos", "neg"], '
                            'not ["pos", "neg", "mixed"]; cannot resume it\n')
    assert len(recorder.requests) == 4


def test_a_classify_batch_is_logged_call_by_call(recorder, wire_cli, tmp_path: Path) -> None:
    recorder.answer_with(_answer_by_text)
    result = wire_cli("classify", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "--concurrency", "1",
                      "--jsonl", _jsonl(tmp_path, ["a good film", "dull", "good fun"]))
    assert result.exit_code == 0, result.stderr
    records = _records(result.stdout)
    rows = _usage_rows(tmp_path)
    assert [(r["command"], r["provider"], r["model"], r["cache_hit"]) for r in rows] == \
        [("classify", "openai", "gpt-4o-mini", 0)] * 3
    assert [r["input_tokens"] for r in rows] == [rec["usage"]["input_tokens"] for rec in records] == [97] * 3
    assert sum(float(r["cost"]) for r in rows) == pytest.approx(sum(rec["cost"]["total"] for rec in records))
    summary = json.loads(wire_cli("usage", "--by", "command", "--json").stdout.splitlines()[0])
    assert summary["command"] == "classify" and summary["calls"] == 3


def test_a_temperature_0_classify_is_answered_from_the_cache(recorder, wire_cli, tmp_path: Path) -> None:
    recorder.answer_with(_answer_by_text)
    args = ("classify", "--json", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "a good film")
    first = _records(wire_cli(*args).stdout)[0]
    second = _records(wire_cli(*args).stdout)[0]
    assert len(recorder.requests) == 1
    assert first.get("cached") is None and second["cached"] is True
    assert second["label"] == first["label"] == "pos" and second["calls"] == first["calls"] == 1
    assert second["cost"]["total"] == 0 and second["saved"] == first["cost"]["total"]
    # Other labels are another request: not a hit.
    other = _records(wire_cli("classify", "--json", "--labels", "pos,neg,mixed", "-m", "openai:gpt-4o-mini",
                              "a good film").stdout)[0]
    assert other.get("cached") is None and len(recorder.requests) == 2
    # --no-cache sends it again.
    wire_cli(*args[:1], "--no-cache", *args[1:])
    assert len(recorder.requests) == 3
    assert [r["cache_hit"] for r in _usage_rows(tmp_path)] == [0, 1, 0, 0]


def test_compare_on_one_text_shows_each_models_answer(recorder, wire_cli) -> None:
    recorder.answer_with(_answer_by_text)
    result = wire_cli("classify", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "-m", "openai:gpt-4.1-mini",
                      "dull")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "── openai:gpt-4o-mini\nneg\n── openai:gpt-4.1-mini\nneg\n"
    assert len(recorder.requests) == 2
    assert {json.loads(r.content)["model"] for r in recorder.requests} == {"gpt-4o-mini", "gpt-4.1-mini"}
    assert "openai:gpt-4o-mini · 97 in" in result.stderr and "openai:gpt-4.1-mini · 97 in" in result.stderr


def test_summarize_estimate_bounds_the_calls_it_makes(recorder, wire_cli, user_config, tmp_path: Path) -> None:
    """On a document cut into chunks: the estimate's output bound is the sum of the calls' own caps,
    and its input covers what the calls really sent (counted with tiktoken)."""
    from support.tasks_support import long_document

    from llmctl.providers.openai.vocab import tiktoken_encoding

    def answer(request: httpx2.Request) -> httpx2.Response:
        reply = fixture_json("openai_structured.json")
        reply["choices"][0]["message"]["content"] = "A short summary of this part."
        return httpx2.Response(200, json=reply)

    recorder.answer_with(answer)
    doc = tmp_path / "doc.txt"
    doc.write_text(long_document(paragraphs=40))
    # A small window for this model, so the document needs several chunks.
    user_config('[models.openai."gpt-4o-mini"]\ncontext_window = 1024\nmax_output = 16384\nencoding = "o200k_base"\n'
                'capabilities = ["complete", "tokenize"]\npoints_to = "gpt-4o-mini-2024-07-18"\n')
    estimate = wire_cli("summarize", "--estimate", "--json", "-m", "openai:gpt-4o-mini", "--max-tokens", "40",
                        "-f", str(doc))
    assert estimate.exit_code == 0, estimate.stderr
    [row] = _records(estimate.stdout)
    ran = wire_cli("summarize", "--json", "-m", "openai:gpt-4o-mini", "--max-tokens", "40", "-f", str(doc))
    assert ran.exit_code == 0, ran.stderr
    record = _records(ran.stdout)[0]
    bodies = [json.loads(r.content) for r in recorder.requests]
    assert record["chunks"] > 1 and record["calls"] == len(bodies) == record["chunks"] + 1
    assert row["max_output_tokens"] == sum(b["max_completion_tokens"] for b in bodies) == 40 * len(bodies)
    encoding = tiktoken_encoding("o200k_base")
    sent = sum(3 + sum(3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"]))
                       for m in b["messages"]) for b in bodies)
    map_calls = sent - (3 + sum(3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"]))
                                for m in bodies[-1]["messages"]))
    # Every chunk's call is counted exactly; the reduce step is bounded by the partial summaries' caps.
    assert sent <= row["input_tokens"] <= sent + 40 * record["chunks"]
    assert row["input_tokens"] >= map_calls
    # The window share is the largest call's (each must fit), not the whole document's.
    largest = max(3 + sum(3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"]))
                          for m in b["messages"]) for b in bodies[:-1])
    assert largest / 1024 <= row["context_used"] <= 1


def test_ner_estimate_counts_the_request_it_sends_and_retry_failed_resends_only_failures(
        recorder, wire_cli, tmp_path: Path) -> None:
    from llmctl.providers.openai.vocab import tiktoken_encoding

    def answer(request: httpx2.Request) -> httpx2.Response:
        text = json.loads(request.content)["messages"][-1]["content"]
        reply = fixture_json("openai_structured.json")
        entities = [{"text": "Anna", "type": "PER"}] if "Anna" in text else []
        reply["choices"][0]["message"]["content"] = json.dumps({"entities": entities})
        return httpx2.Response(200, json=reply)

    recorder.answer_with(answer)
    estimate = wire_cli("ner", "--estimate", "--json", "-m", "openai:gpt-4o-mini", "Anna went home.")
    assert estimate.exit_code == 0 and recorder.requests == []
    [row] = _records(estimate.stdout)
    ran = wire_cli("ner", "--json", "-m", "openai:gpt-4o-mini", "Anna went home.")
    assert _records(ran.stdout)[0]["entities"] == [{"text": "Anna", "type": "PER", "start": 0, "end": 4}]
    body = recorder.body()
    encoding = tiktoken_encoding("o200k_base")
    assert row["input_tokens"] == 3 + sum(3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"]))
                                          for m in body["messages"])
    assert row["max_output_tokens"] == body["max_completion_tokens"] == 1024

    # A batch where one record's calls fail (a 400), then --retry-failed sends that one alone.
    out = tmp_path / "entities.jsonl"
    texts = _jsonl(tmp_path, ["Anna went home.", "Nobody here.", "Anna again."])

    def failing(request: httpx2.Request) -> httpx2.Response:
        if "Nobody" in json.loads(request.content)["messages"][-1]["content"]:
            return httpx2.Response(400, json={"error": {"message": "bad request", "type": "invalid_request_error"}})
        return answer(request)

    recorder._answers[:] = [failing]
    first = wire_cli("ner", "-m", "openai:gpt-4o-mini", "--jsonl", texts, "-o", str(out))
    assert first.exit_code == 4
    recorder._answers[:] = [answer]
    sent_before = len(recorder.requests)
    again = wire_cli("ner", "-m", "openai:gpt-4o-mini", "--jsonl", texts, "-o", str(out), "--retry-failed")
    assert again.exit_code == 0, again.stderr
    resent = [json.loads(r.content)["messages"][-1]["content"] for r in recorder.requests[sent_before:]]
    assert len(resent) == 1 and "Nobody here." in resent[0]
    latest = {r["id"]: r for r in _records(out.read_text()) if "id" in r}
    assert sorted(latest) == [1, 2, 3] and latest[2]["error"] is None and latest[2]["entities"] == []


def test_gold_metrics_after_resume_cover_the_whole_file(recorder, wire_cli, tmp_path: Path) -> None:
    recorder.answer_with(_answer_by_text)
    rows = [("a good film", "pos"), ("dull", "pos"), ("good fun", "pos"), ("awful", "neg")]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t, "gold": g}) + "\n" for i, (t, g) in enumerate(rows)))
    half = tmp_path / "half.jsonl"
    half.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))
    out = tmp_path / "labels.jsonl"
    base = ("classify", "--json", "--labels", "pos,neg", "-m", "openai:gpt-4o-mini", "--gold", "gold", "-o", str(out))
    assert wire_cli(*base, "--jsonl", str(half)).exit_code == 0
    resumed = wire_cli(*base, "--jsonl", str(path), "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert len(recorder.requests) == 4
    [final] = _records(resumed.stdout)
    # pos, neg, pos, neg against pos, pos, pos, neg: 3 of 4 right, over all four records.
    assert final["model"] == "openai:gpt-4o-mini"
    assert final["metrics"]["records"] == 4 and final["metrics"]["accuracy"] == 0.75
