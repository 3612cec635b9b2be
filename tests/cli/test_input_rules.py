"""Input as `llm` users expect: stdin and the prompt make one prompt, `-f` takes every path after
it, several files make one prompt for `complete` unless --each, and what cannot be text is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.usage import Usage
from llmctl.providers import registry
from llmctl.providers.base import Completion, CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.providers.openai.vocab import tiktoken_encoding
from llmctl.providers.options import HostedOptions

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, input: str | bytes | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


class EchoProvider(Provider):
    kind = "echo"
    options_model = HostedOptions
    requests: list[CompletionRequest] = []

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        raise NotImplementedError

    def complete(self, ref, request, on_text=None):
        type(self).requests.append(request)
        return Completion(f"[{request.prompt}]", Usage(1, 1), "stop", ref.model)


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch, user_config) -> type[EchoProvider]:
    monkeypatch.setitem(registry.PROVIDER_KINDS, "echo", f"{__name__}:EchoProvider")
    user_config('[providers.echo]\nkind = "echo"\n\n'
                '[models.echo."e-1"]\ncontext_window = 100\ncapabilities = ["complete", "tokenize"]\n')
    EchoProvider.requests = []
    return EchoProvider


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.chdir(tmp_path)
    texts = {"a.md": "Alpha beta gamma.\n", "b.md": "Delta, epsilon: zeta eta theta!\n", "c.md": "Iota\n"}
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in texts.items():
        (folder / name).write_text(text)
    return sorted(folder.iterdir())


def test_stdin_then_the_argument_make_one_prompt(echo) -> None:
    result = run("complete", "-m", "echo:e-1", "Summarise this review:", input="Great phone, poor battery.\n")
    assert result.exit_code == 0
    assert [r.prompt for r in echo.requests] == ["Great phone, poor battery.\n\nSummarise this review:"]
    assert result.stdout == "[Great phone, poor battery.\n\nSummarise this review:]\n"


def test_empty_stdin_leaves_the_argument_alone(echo) -> None:
    run("complete", "-m", "echo:e-1", "just", "this", input="")
    assert [r.prompt for r in echo.requests] == ["just this"]


def test_tokenize_counts_stdin_and_the_arguments(docs: list[Path]) -> None:
    enc = tiktoken_encoding("o200k_base")
    result = run("tokenize", "-m", "openai:gpt-4o", "and more words", input="piped text here\n")
    assert result.exit_code == 0
    first, second = len(enc.encode("piped text here")), len(enc.encode("and more words"))
    assert result.stdout.splitlines() == [f"{first} <stdin>", f"{second} <argument 1>", f"{first + second} total"]


def test_f_takes_every_path_after_it(docs: list[Path]) -> None:
    enc = tiktoken_encoding("o200k_base")
    result = run("tokenize", "-m", "openai:gpt-4o", "-f", *(str(p) for p in docs))
    assert result.exit_code == 0
    counts = [len(enc.encode(p.read_text())) for p in docs]
    width = len(str(sum(counts)))
    assert result.stdout.splitlines() == [f"{n:>{width}} {p}" for n, p in zip(counts, docs, strict=True)] + [
        f"{sum(counts):>{width}} total"]


def test_f_list_stops_at_the_next_option(docs: list[Path]) -> None:
    result = run("tokenize", "-f", str(docs[0]), str(docs[1]), "-m", "openai:gpt-4o", "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in records] == [str(docs[0]), str(docs[1])]


def test_several_files_make_one_prompt(echo, docs: list[Path]) -> None:
    result = run("complete", "-m", "echo:e-1", "Compare these:", "-f", *(str(p) for p in docs))
    assert result.exit_code == 0
    expected = "\n\n".join([p.read_text() for p in docs] + ["Compare these:"])
    assert [r.prompt for r in echo.requests] == [expected]
    assert result.stdout == f"[{expected}]\n"


def test_each_sends_one_request_per_file(echo, docs: list[Path]) -> None:
    result = run("complete", "-m", "echo:e-1", "--each", "-f", *(str(p) for p in docs))
    assert result.exit_code == 0
    assert sorted(r.prompt for r in echo.requests) == sorted(p.read_text() for p in docs)
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == [
        f"[{p.read_text()}]" for p in docs]


def test_each_needs_files(echo) -> None:
    result = run("complete", "-m", "echo:e-1", "--each", "hi")
    assert (result.exit_code, result.stderr) == (
        2, "llmctl: error: --each sends one request per -f file; give files with -f\n")


def test_words_after_f_are_taken_as_paths_with_a_hint(echo, docs: list[Path]) -> None:
    result = run("complete", "-m", "echo:e-1", "-f", str(docs[0]), "Summarise")
    assert result.exit_code == 2
    assert result.stderr == ("llmctl: error: Summarise: no such file (-f takes every path after it: give a prompt "
                             "before -f, or after --)\n")
    assert echo.requests == []
    after_dashes = run("complete", "-m", "echo:e-1", "-f", str(docs[0]), "--", "Summarise")
    assert after_dashes.exit_code == 0
    assert [r.prompt for r in echo.requests] == [docs[0].read_text() + "\n\nSummarise"]


def test_a_text_that_names_a_file_beside_f_is_exit_2(docs: list[Path]) -> None:
    result = run("tokenize", "-m", "openai:gpt-4o", str(docs[0]), "-f", str(docs[1]))
    assert result.exit_code == 2
    assert result.stderr == (f"llmctl: error: '{docs[0]}' names a file but was given as text alongside -f; to read "
                             "it, list it after -f (-f PATH...)\n")
    assert result.stdout == ""


def test_f_on_a_directory_is_one_line(docs: list[Path]) -> None:
    folder = docs[0].parent
    for command in (["tokenize", "-m", "openai:gpt-4o"], ["complete", "-m", "openai:gpt-4o"]):
        result = run(*command, "-f", str(folder))
        assert (result.exit_code, result.stderr) == (2, f"llmctl: error: {folder}: is a directory, not a file\n")


@pytest.mark.parametrize(("data", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "<stdin>: binary data (a NUL byte at byte offset 8); llmctl reads "
                                              "UTF-8 text"),
    (b"caf\xe9 au lait", "<stdin>: not valid UTF-8 at byte offset 3"),
])
@pytest.mark.parametrize("command", [["tokenize", "-m", "openai:gpt-4o"], ["complete", "-m", "openai:gpt-4o"],
                                     ["embed", "-m", "openai:text-embedding-3-small"]])
def test_binary_stdin_is_one_line_exit_2(command: list[str], data: bytes, message: str) -> None:
    result = run(*command, input=data)
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"llmctl: error: {message}\n", "")


def _count_in_child(args: list[str], stdin: bytes | None) -> tuple[str, str]:
    """Run tokenize in a fresh interpreter; report its stdout and whether tiktoken's full table was loaded."""
    code = ("import sys\nfrom llmctl.cli.app import app\n"
            f"sys.argv = ['llmctl', *{args!r}]\n"
            "try:\n    app(prog_name='llmctl')\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('|tiktoken' if 'tiktoken' in sys.modules else '|')\n")
    proc = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, cwd=ROOT, check=True,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    return proc.stdout.decode(), proc.stderr.decode().rsplit("|", 1)[1]


def test_short_piped_stdin_takes_the_arguments_quick_path() -> None:
    # The argument form never loads tiktoken's full table; short piped input now counts the same way.
    as_arg = _count_in_child(["tokenize", "-m", "openai:gpt-4o", "hello"], None)
    piped = _count_in_child(["tokenize", "-m", "openai:gpt-4o"], b"hello\n")
    assert as_arg == piped == (f"{len(tiktoken_encoding('o200k_base').encode('hello'))}\n", "")


def test_long_piped_stdin_is_still_counted_exactly(tmp_path: Path) -> None:
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(3000))
    assert len(text.encode()) > 64 << 10
    out, _ = _count_in_child(["tokenize", "-m", "openai:gpt-4o"], text.encode())
    assert out == f"{len(tiktoken_encoding('o200k_base').encode(text[:-1]))}\n"


def test_embed_embeds_stdin_and_the_arguments(monkeypatch: pytest.MonkeyPatch, user_config) -> None:
    from llmctl.providers.base import EmbeddingRequest, Embeddings

    seen: list[list[str]] = []

    class VectorProvider(EchoProvider):
        kind = "echo"

        def embed(self, ref: ModelRef, request: EmbeddingRequest) -> Embeddings:
            seen.append(list(request.texts))
            return Embeddings([[float(len(t))] for t in request.texts], Usage(1, 0))

    monkeypatch.setattr(sys.modules[__name__], "EchoProvider", VectorProvider)
    monkeypatch.setitem(registry.PROVIDER_KINDS, "echo", f"{__name__}:EchoProvider")
    user_config('[providers.echo]\nkind = "echo"\n\n[models.echo."v-1"]\ncapabilities = ["embed", "tokenize"]\n')
    result = run("embed", "-m", "echo:v-1", "second text", input="first text\n")
    assert result.exit_code == 0
    assert seen == [["first text", "second text"]]
    assert [json.loads(line)["dimensions"] for line in result.stdout.splitlines()] == [1, 1]
