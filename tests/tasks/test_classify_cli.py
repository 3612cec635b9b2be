"""`llmctl classify` end to end: bad input, batches with failing records, and --gold metrics against sklearn."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx2
import pytest
from support.tasks_support import fixture_json, run_cli

pytestmark = pytest.mark.usefixtures("keys")


def _answer_by_text(request: httpx2.Request) -> httpx2.Response:
    """A scripted chat endpoint: "good" texts are pos, the rest neg; a text with GARBLED never validates."""
    body = json.loads(request.content)
    prompt = body["messages"][-1]["content"]
    first = body["messages"][0]["content"] if len(body["messages"]) > 1 else prompt
    if "GARBLED" in first:
        content = '{"label": "perhaps"'
    else:
        text = prompt.split("Text: ", 1)[1].split("\n", 1)[0]
        content = json.dumps({"label": "pos" if "good" in text else "neg"})
    reply = fixture_json("openai_structured.json")
    reply["choices"][0]["message"]["content"] = content
    reply["model"] = body["model"]
    return httpx2.Response(200, json=reply)


def _jsonl(tmp_path: Path, rows: list[dict]) -> str:
    path = tmp_path / "batch.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize(("args", "message"), [
    ([], "--labels is required: name the labels, e.g. --labels pos,neg (or @labels.txt)"),
    (["--labels", "pos"], "--labels names only 'pos'; classifying needs at least two labels"),
    (["--labels", "pos,neg,pos"], "--labels names 'pos' twice"),
    (["--labels", " , "], "--labels names no label"),
])
def test_bad_labels_exit_2(args: list[str], message: str) -> None:
    result = run_cli("classify", "-m", "openai:gpt-4o-mini", *args, "Very bad movie")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {message}\n"
    assert result.stdout == ""


def test_labels_from_a_file_and_examples_with_an_unknown_label(tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("pos\nneg\n")
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"text": "great", "label": "pos"}\n{"text": "meh", "label": "neutral"}\n')
    result = run_cli("classify", "-m", "openai:gpt-4o-mini", "--labels", f"@{labels}", "--examples", str(shots), "x")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {shots}:2: label 'neutral' is not one of --labels (pos, neg)\n"


def test_gold_missing_in_some_records_names_the_lines(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [{"text": "a", "label": "pos"}, {"text": "b"}, {"text": "c", "label": "neg"},
                             {"text": "d"}])
    result = run_cli("classify", "--labels", "pos,neg", "--jsonl", path, "--gold", "label", "-m", "openai:gpt-4o-mini")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: --gold label: 2 of 4 records in {path} lack it (lines 2, 4)\n"


def test_scores_on_a_backend_without_logprobs_exit_2(wire_cli) -> None:
    result = wire_cli("classify", "-m", "mistral:mistral-small-latest", "--labels", "pos,neg", "--scores", "bad")
    assert result.exit_code == 2
    assert "--scores needs log-probabilities, which mistral:mistral-small-latest (mistral) does not give; " \
           "models that do: gguf, hf (generation models) and openai" in result.stderr


def test_a_record_that_keeps_answering_invalid_json_fails_and_the_batch_goes_on(recorder, wire_cli,
                                                                                 tmp_path: Path) -> None:
    recorder.answer_with(_answer_by_text)
    path = _jsonl(tmp_path, [{"id": 1, "text": "a good film"}, {"id": 2, "text": "GARBLED"},
                             {"id": 3, "text": "dull"}])
    result = wire_cli("classify", "-m", "openai:gpt-4o-mini", "--labels", "pos,neg", "--jsonl", path)
    assert result.exit_code == 4
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == [1, 2, 3]
    assert [r.get("label") for r in records] == ["pos", None, "neg"]
    assert records[1]["error"]["type"] == "InvalidAnswerError"
    assert records[1]["calls"] == 2 and records[1]["usage"]["input_tokens"] == 2 * 97
    assert records[0]["error"] is None
    assert "2/3 ok" in result.stderr
    assert result.stderr.rstrip().endswith("llmctl: error: 1 of 3 records failed; see their `error` fields")


def test_gold_metrics_per_model_match_sklearn(recorder, wire_cli, tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    recorder.answer_with(_answer_by_text)
    rows = [("a good film", "pos"), ("good and long", "neg"), ("awful", "neg"), ("not good at all", "neg"),
            ("boring", "pos"), ("good", "pos"), ("bad", "neg")]
    path = _jsonl(tmp_path, [{"text": t, "gold": g} for t, g in rows])
    result = wire_cli("classify", "--json", "--labels", "pos,neg", "--jsonl", path, "--gold", "gold",
                      "-m", "openai:gpt-4o-mini", "-m", "openai:gpt-4.1-mini", "--concurrency", "3")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 * (len(rows) + 1)
    gold = [g for _, g in rows]
    # The models run at once: records interleave, each model's metrics record comes after all records.
    assert all("metrics" in line for line in lines[-2:]) and not any("metrics" in line for line in lines[:-2])
    for final in lines[-2:]:
        records = [line for line in lines[:-2] if line["model"] == final["model"]]
        assert len(records) == len(rows)  # in input order per model (--ordered is the default without -o)
        predicted = [r["label"] for r in records]
        metrics = final["metrics"]
        assert final["model"] == records[0]["model"]
        assert metrics["accuracy"] == pytest.approx(accuracy_score(gold, predicted), abs=1e-4)
        assert metrics["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro"), abs=1e-4)
        p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=["pos", "neg"], zero_division=0)
        for i, label in enumerate(["pos", "neg"]):
            row = metrics["per_label"][label]
            assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
                (p[i], r[i], f[i], s[i]), abs=1e-4)
        assert metrics["confusion"] == {"labels": ["pos", "neg"],
                                        "matrix": confusion_matrix(gold, predicted, labels=["pos", "neg"]).tolist()}
        total = sum(Decimal(str(r["cost"]["total"])) for r in records)
        assert metrics["cost"] == pytest.approx(float(total))
        assert metrics["cost_per_1000"] == pytest.approx(float(total) * 1000 / len(rows))
        assert metrics["mean_latency_ms"] == pytest.approx(sum(r["latency_ms"] for r in records) / len(rows), abs=0.1)
    assert {lines[-2]["model"], lines[-1]["model"]} == {"openai:gpt-4o-mini", "openai:gpt-4.1-mini"}


def test_gold_field_named_like_the_result_is_kept_and_outside_labels_are_counted_apart(
        recorder, wire_cli, tmp_path: Path) -> None:
    """--gold label: the record keeps the gold answer as gold.label beside the model's label; gold labels
    outside --labels are one warning and left out of the figures, which match sklearn on the rest."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    recorder.answer_with(_answer_by_text)
    rows = [("a good film", "pos"), ("good and long", "neg"), ("awful", "neg"), ("so-so", "neutral"),
            ("boring", "pos"), ("good enough", "neutral"), ("bad", "neg"), ("odd", "mixed")]
    path = _jsonl(tmp_path, [{"id": i, "text": t, "label": g} for i, (t, g) in enumerate(rows)])
    result = wire_cli("classify", "--json", "--labels", "pos,neg", "--jsonl", path, "--gold", "label",
                      "-m", "openai:gpt-4o-mini")
    assert result.exit_code == 0, result.stderr
    *records, final = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["gold"] for r in records] == [{"label": g} for _, g in rows]
    assert [r["label"] for r in records] == ["pos" if "good" in t else "neg" for t, _ in rows]
    assert result.stderr.count("warning: --gold label:") == 1
    assert ("warning: --gold label: gold labels 'neutral' (2 records), 'mixed' (1 record) not among --labels "
            "(pos, neg); those records are counted apart (gold_outside_labels), not in accuracy or macro-F1"
            in result.stderr)
    metrics = final["metrics"]
    kept = [(g, r["label"]) for (_, g), r in zip(rows, records, strict=True) if g in ("pos", "neg")]
    gold, predicted = [g for g, _ in kept], [p for _, p in kept]
    assert metrics["records"] == 8 and metrics["scored"] == 5
    assert metrics["gold_outside_labels"] == {"neutral": 2, "mixed": 1}
    assert metrics["accuracy"] == pytest.approx(accuracy_score(gold, predicted), abs=1e-4)
    assert metrics["macro_f1"] == pytest.approx(f1_score(gold, predicted, labels=["pos", "neg"], average="macro"),
                                                abs=1e-4)
    assert list(metrics["per_label"]) == ["pos", "neg"]
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=["pos", "neg"], zero_division=0)
    for i, label in enumerate(["pos", "neg"]):
        row = metrics["per_label"][label]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (p[i], r[i], f[i], s[i]), abs=1e-4)


def test_gold_beside_an_input_field_named_gold_is_exit_2(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, [{"text": "a", "label": "pos", "gold": "x"}])
    result = run_cli("classify", "--labels", "pos,neg", "--jsonl", path, "--gold", "label", "-m", "openai:gpt-4o-mini")
    assert result.exit_code == 2
    assert result.stderr == (f"llmctl: error: {path}:1: --gold label: the record already has a field 'gold', "
                             "where the output keeps the gold answer; rename one of them\n")
    assert result.stdout == ""


def test_gold_metrics_table_goes_to_stderr(recorder, wire_cli, tmp_path: Path) -> None:
    recorder.answer_with(_answer_by_text)
    path = _jsonl(tmp_path, [{"text": "good", "gold": "pos"}, {"text": "bad", "gold": "pos"}])
    result = wire_cli("classify", "--labels", "pos,neg", "--jsonl", path, "--gold", "gold", "-m", "openai:gpt-4o-mini")
    assert result.exit_code == 0
    assert all(json.loads(line)["model"] == "openai:gpt-4o-mini" for line in result.stdout.splitlines())
    assert "accuracy 0.5000 · macro-F1 0.3333" in result.stderr
    assert "confusion (rows: gold, columns: predicted)" in result.stderr


def test_one_text_prints_the_label(recorder, wire_cli) -> None:
    recorder.answer_with(_answer_by_text)
    result = wire_cli("classify", "-m", "openai:gpt-4o-mini", "--labels", "pos,neg", "Very", "bad", "movie")
    assert result.exit_code == 0
    assert result.stdout == "neg\n"
    assert result.stderr.startswith("openai:gpt-4o-mini · 97 in + 6 out tokens · $")


@pytest.mark.parametrize("command", ["classify", "summarize", "ner"])
def test_the_task_commands_take_the_retry_limits_of_complete(command: str) -> None:
    extra = ["--labels", "a,b"] if command == "classify" else []
    result = run_cli(command, *extra, "-m", "openai:gpt-4o-mini", "--max-wait", "-1", "some text")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: --max-wait must be at least 0, not -1\n"
    local = run_cli(command, *extra, "-m", "gguf:/nonexistent.gguf", "--retry-timeouts", "some text")
    assert local.exit_code == 2 and "--retry-timeouts does not apply to" in local.stderr
