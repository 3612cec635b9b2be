"""The complete/embed commands' own behaviour (records, batches, matrices, exit codes), driven
through a scripted in-process backend, as llm's tests do with their fake model. The real
backends are exercised against real models and servers in tests/api, tests/gguf and tests/hf."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import NetworkError, UsageError
from llmctl.core.usage import Usage
from llmctl.providers import registry
from llmctl.providers.base import (
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ModelRef,
    Provider,
    Tokenizer,
)
from llmctl.providers.options import HostedOptions

runner = CliRunner()


class ScriptedProvider(Provider):
    """Answers `upper(prompt)`; a prompt containing FAIL raises; vectors come from letter counts."""

    kind = "scripted"
    options_model = HostedOptions
    requests: list[CompletionRequest] = []

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        raise NotImplementedError

    def complete(self, ref, request, on_text=None):
        type(self).requests.append(request)
        if "FAIL" in request.prompt:
            raise NetworkError("connection reset by peer")
        if request.top_k is not None:
            raise UsageError("--top-k is not supported by scripted models")
        text = request.prompt.upper()
        if request.stream and on_text:
            for word in text.split(" "):
                on_text(word + " ")
            text = " ".join(w for w in text.split(" ")) + " "
        return Completion(text, Usage(len(request.prompt.split()), len(text.split())), "stop", ref.model)

    def embed(self, ref, request: EmbeddingRequest) -> Embeddings:
        vectors = []
        for text in request.texts:
            vec = [float(text.lower().count(c)) for c in "aeiou"]
            if request.normalize:
                norm = math.sqrt(sum(x * x for x in vec)) or 1.0
                vec = [x / norm for x in vec]
            vectors.append(vec)
        return Embeddings(vectors, Usage(sum(len(t.split()) for t in request.texts)))


@pytest.fixture(autouse=True)
def scripted_backend(monkeypatch: pytest.MonkeyPatch, user_config) -> None:
    monkeypatch.setitem(registry.PROVIDER_KINDS, "scripted", f"{__name__}:ScriptedProvider")
    # The scripted backend stands in for an API: it takes the hosted options (--timeout, --concurrency).
    user_config(
        '[providers.scripted]\nkind = "scripted"\n\n'
        '[models.scripted."chat-1"]\ncontext_window = 100\ncapabilities = ["complete", "tokenize"]\n\n'
        '[models.scripted."vec-1"]\ncontext_window = 100\ncapabilities = ["embed", "tokenize"]\n\n'
        '[prices.scripted."chat-1"]\ninput = "1000000"\noutput = "2000000"\nas_of = "2026-11-01"\nsource = "t"\n'
    )
    ScriptedProvider.requests = []


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_one_prompt_text_and_summary() -> None:
    result = run("complete", "-m", "scripted:chat-1", "tell", "me", "a", "story")
    assert result.exit_code == 0
    assert result.stdout == "TELL ME A STORY\n"
    assert result.stderr.strip() == "scripted:chat-1 · 4 in + 4 out tokens · $12 · " + \
        result.stderr.strip().rsplit(" · ", 1)[1]
    request = ScriptedProvider.requests[0]
    assert request.prompt == "tell me a story" and request.stream is False


def test_options_reach_the_request() -> None:
    run("complete", "-m", "scripted:chat-1", "--system", "be brief", "--max-tokens", "20", "--temperature", "0.5",
        "--top-p", "0.9", "--stop", ".", "--stop", "END", "--seed", "7", "hi")
    request = ScriptedProvider.requests[0]
    assert (request.system, request.max_tokens, request.temperature, request.top_p, request.stop, request.seed) == (
        "be brief", 20, 0.5, 0.9, [".", "END"], 7)
    assert request.messages()[0] == {"role": "system", "content": "be brief"}


def test_json_record_shape() -> None:
    result = run("complete", "--json", "-m", "scripted:chat-1", "hi there")
    record = json.loads(result.stdout)
    assert record["model"] == "scripted:chat-1"
    assert record["text"] == "HI THERE"
    assert record["usage"] == {"input_tokens": 2, "output_tokens": 2, "total_tokens": 4, "estimated": False}
    assert record["cost"] == {"input": 2, "output": 4, "total": 6, "currency": "USD", "price_as_of": "2026-11-01"}
    assert record["latency_ms"] >= 0
    assert result.stderr == ""


def test_stream_flag_streams() -> None:
    result = run("complete", "--stream", "-m", "scripted:chat-1", "a b")
    assert ScriptedProvider.requests[0].stream is True
    assert result.stdout == "A B \n"


def test_jsonl_batch_in_order_with_errors_and_exit_4(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps({"id": i, "text": f"prompt {i}" + (" FAIL" if i == 2 else "")})
                                 for i in range(6)) + "\n")
    result = run("complete", "-m", "scripted:chat-1", "--jsonl", str(prompts), "--concurrency", "3")
    assert result.exit_code == 4
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == list(range(6))
    assert records[1]["text"] == "PROMPT 1" and records[1]["error"] is None
    assert records[2]["error"] == {"type": "NetworkError", "message": "connection reset by peer"}
    assert records[2]["text"] is None
    assert "llmctl: error: 1 of 6 records failed" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-tokens", "0"], "--max-tokens must be at least 1, not 0"),
        (["--temperature", "-1"], "--temperature must be at least 0, not -1"),
        (["--top-p", "1.5"], "--top-p must be in (0, 1], not 1.5"),
        (["--top-k", "5"], "--top-k is not supported by scripted models"),
        (["--concurrency", "0"], "--concurrency must be at least 1, not 0"),
        (["--timeout", "0"], "--timeout must be more than 0, not 0"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    result = run("complete", "-m", "scripted:chat-1", *args, "hi")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {message}\n"
    assert result.stdout == ""


def test_empty_prompt_exit_2() -> None:
    result = run("complete", "-m", "scripted:chat-1", input="")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: <stdin>: empty input\n"


def test_embedding_model_for_complete_and_the_reverse() -> None:
    result = run("complete", "-m", "scripted:vec-1", "hi")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: scripted:vec-1 is an embedding model; use `llmctl embed`\n"
    result = run("embed", "-m", "scripted:chat-1", "hi")
    assert result.exit_code == 2
    assert "is a generation model, not an embedding model; use `llmctl complete`" in result.stderr


def test_embed_jsonl_vectors_carry_fields(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "body": "banana"}\n{"id": "b", "body": "kiwi"}\n')
    result = run("embed", "-m", "scripted:vec-1", "--jsonl", str(docs), "--field", "body")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["index"], r["dimensions"], r["embedding"]) for r in records] == [
        ("a", 0, 5, [3.0, 0.0, 0.0, 0.0, 0.0]), ("b", 1, 5, [0.0, 0.0, 2.0, 0.0, 0.0])]
    assert "warning: no price is known for scripted:vec-1" in result.stderr


def test_embed_similarity_matrix_json_and_tsv() -> None:
    result = run("embed", "-m", "scripted:vec-1", "--json", "--similarity", "banana", "papaya", "kiwi")
    record = json.loads(result.stdout)
    matrix = record["matrix"]
    assert matrix[0][0] == pytest.approx(1.0)
    assert matrix[0][1] == pytest.approx(1.0)  # both only have a's
    assert matrix[0][2] == pytest.approx(0.0)
    tsv = run("embed", "-m", "scripted:vec-1", "--similarity", "banana", "kiwi").stdout.splitlines()
    assert tsv[0] == "text\t1\t2"
    assert tsv[1] == "banana\t1.0000\t0.0000"


def test_embed_normalize_and_similarity_needs_two() -> None:
    record = json.loads(run("embed", "-m", "scripted:vec-1", "--normalize", "aa ee").stdout)
    assert math.isclose(sum(x * x for x in record["embedding"]), 1.0)
    result = run("embed", "-m", "scripted:vec-1", "--similarity", "only one")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: --similarity needs at least two texts\n"
