"""`llmctl tokenize`, `models` and `prices` through the real CLI, good input and bad."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.cli.tokenize_run import readable
from llmctl.providers.mistral.tokens import tokenizer_for_version
from llmctl.providers.openai.vocab import tiktoken_encoding

runner = CliRunner()


def run(*args: str, input: str | bytes | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_count_from_stdin_drops_echo_newline() -> None:
    result = run("tokenize", "-m", "openai:gpt-4o-mini", input="We live in Paris but ewhd here\n")
    assert result.exit_code == 0
    assert result.stdout == "9\n"
    assert "openai:gpt-4o-mini · 9 tokens" in result.stderr


def test_ids_for_gpt4() -> None:
    result = run("tokenize", "-m", "openai:gpt-4", "--ids", "We live in Paris but ewhd here")
    assert result.stdout == "1687 3974 304 12366 719 37990 16373 1618\n"


def test_tokens_one_per_line_readable(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("Bonjour\n😀")
    result = run("tokenize", "-m", "mistral:mistral-large-2411", "--tokens", "-f", str(notes))
    assert result.exit_code == 0
    tok = tokenizer_for_version("v7")
    ids = tok.encode("Bonjour\n😀")
    lines = result.stdout.splitlines()
    assert lines == [readable(tok.token_bytes(i)) for i in ids]
    assert "Bon" in lines[0] and "\\n" in lines  # the newline token shows as an escape, on its own line


def test_files_wc_style_with_total(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("hello world")
    b.write_text("one two three four")
    enc = tiktoken_encoding("o200k_base")
    na, nb = len(enc.encode_ordinary("hello world")), len(enc.encode_ordinary("one two three four"))
    result = run("tokenize", "-m", "openai:gpt-4o", "-f", str(a), "-f", str(b))
    assert result.exit_code == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines == [[str(na), str(a)], [str(nb), str(b)], [str(na + nb), "total"]]


def test_truncate_cuts_text_to_n_tokens(tmp_path: Path) -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20
    long = tmp_path / "long.txt"
    long.write_text(text)
    result = run("tokenize", "-m", "openai:gpt-4o", "--truncate", "5", "-f", str(long))
    enc = tiktoken_encoding("o200k_base")
    assert result.stdout == enc.decode(enc.encode_ordinary(text)[:5])
    assert len(enc.encode_ordinary(result.stdout)) == 5


def test_decode_ids() -> None:
    result = run("tokenize", "-m", "openai:gpt-4", "--decode", "1687", "3974", "304")
    assert result.stdout == "We live in\n"


def test_json_record_has_cost_and_window(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("x " * 1000)
    result = run("tokenize", "--json", "-m", "openai:gpt-4o", "-f", str(doc))
    record = json.loads(result.stdout)
    n = len(tiktoken_encoding("o200k_base").encode_ordinary("x " * 1000))
    assert record["model"] == "openai:gpt-4o"
    assert record["tokens"] == n
    assert record["context_window"] == 128000
    assert record["cost"]["input"] == pytest.approx(n * 2.5 / 1e6)
    assert record["cost"]["currency"] == "USD" and record["cost"]["price_as_of"]


def test_compare_models_tsv_when_piped(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Token counts differ between tokenizers. " * 10)
    result = run("tokenize", "-m", "openai:gpt-4o", "-m", "mistral:mistral-small-latest", "-m", "openai:gpt-4",
                 "-f", str(doc))
    assert result.exit_code == 0
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0] == ["model", "tokens", "context_window", "context_used", "input_cost_usd"]
    models = [r[0] for r in rows[1:]]
    assert models == ["openai:gpt-4o", "mistral:mistral-small-latest", "openai:gpt-4"]
    tekken = tokenizer_for_version("tekken").count(doc.read_text())
    assert rows[2][1] == str(tekken)


def test_unknown_price_is_null_with_warning(user_config) -> None:
    user_config('[models.openai."gpt-9-preview"]\ncontext_window = 1000\nencoding = "o200k_base"\n'
                'capabilities = ["tokenize"]\n')
    result = run("tokenize", "--json", "-m", "openai:gpt-9-preview", "hello")
    record = json.loads(result.stdout)
    assert record["cost"]["input"] is None and record["cost"]["total"] is None
    assert "warning: no price is known for openai:gpt-9-preview" in result.stderr


def test_user_price_overrides_shipped(user_config) -> None:
    user_config('[prices.openai."gpt-4o-2024-08-06"]\ninput = "100"\noutput = "1"\nas_of = "2026-11-01"\n'
                'source = "contract"\n')
    record = json.loads(run("tokenize", "--json", "-m", "openai:gpt-4o", "hello").stdout)
    assert record["cost"]["input"] == pytest.approx(100 / 1e6)
    assert record["cost"]["price_as_of"] == "2026-11-01"


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["tokenize", "-m", "openai:gpt-4o", "-f", "/nonexistent/x.txt"], None,
         "llmctl: error: /nonexistent/x.txt: no such file\n"),
        (["tokenize", "-m", "openai:gpt-4o", "--truncate", "0", "hi"], None,
         "llmctl: error: --truncate must be a positive number of tokens, not 0\n"),
        (["tokenize", "-m", "openai:gpt-4o", "--truncate", "-3", "hi"], None,
         "llmctl: error: --truncate must be a positive number of tokens, not -3\n"),
        (["tokenize", "-m", "openai:gpt-4o", "--decode", "99999999"], None,
         "llmctl: error: token id 99999999 is not in the o200k_base vocabulary\n"),
        (["tokenize", "-m", "openai:gpt-4o", "--decode", "12", "abc"], None,
         "llmctl: error: --decode takes token ids (integers), not 'abc'\n"),
    ],
)
def test_bad_input_one_line_exit_2(args: list[str], stdin: str | None, message: str) -> None:
    result = run(*args, input=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message


def test_non_utf8_file_names_file_and_offset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello \xff world")
    result = run("tokenize", "-m", "openai:gpt-4o", "-f", str(bad))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"llmctl: error: {bad}: not valid UTF-8 at byte offset 6\n"


def test_unknown_provider_lists_valid_ones() -> None:
    result = run("tokenize", "-m", "foo:bar", "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith("llmctl: error: unknown provider 'foo'; valid providers: anthropic, gemini, gguf, "
                                    "hf, mistral, openai")


def test_unknown_model_lists_known_ones() -> None:
    result = run("tokenize", "-m", "mistral:mistral-huge", "hi")
    assert result.exit_code == 2
    assert "unknown model mistral:mistral-huge; known mistral models:" in result.stderr
    assert "mistral-large-latest" in result.stderr


def test_bare_name_without_known_prefix() -> None:
    result = run("tokenize", "-m", "llama3", "hi")
    assert result.exit_code == 2
    assert "cannot tell the provider of 'llama3'" in result.stderr


def test_hf_folder_that_does_not_exist() -> None:
    result = run("tokenize", "-m", "hf:/nonexistent/model", "hi")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: hf:/nonexistent/model: no such folder\n"


def test_r50k_offline_fails_clearly(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens: fail fast, never leave the host
    result = run("tokenize", "-m", "openai:gpt2", "hi")
    assert result.exit_code == 4
    assert "the r50k_base vocabulary is not bundled and could not be downloaded" in result.stderr


# ------------------------------------------------------------------ models, prices
def test_models_lists_aliases_and_windows() -> None:
    result = run("models", "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {r["model"]: r for r in records}
    assert by_name["openai:gpt-4o"]["context_window"] == 128000
    assert by_name["mistral:mistral-large-latest"]["alias_of"] == "mistral:mistral-large-2512"
    assert by_name["mistral:mistral-large-latest"]["input_per_1m"] == "0.50"
    assert by_name["smollm2"]["alias_of"].startswith("gguf:")


def test_prices_json_and_stale_warning() -> None:
    result = run("prices", "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    names = {r["model"] for r in records}
    for required in ["openai:gpt-4o-2024-08-06", "openai:gpt-4o-mini-2024-07-18", "openai:gpt-4.1-2025-04-14",
                     "openai:text-embedding-3-small", "mistral:mistral-embed", "mistral:codestral-2508"]:
        assert required in names
    assert all(r["as_of"] and r["source"].startswith("litellm ") for r in records)
    if any(r["stale"] for r in records):
        assert "prices are older than 180 days" in result.stderr


def test_prices_tsv_when_piped() -> None:
    result = run("prices")
    header = result.stdout.splitlines()[0].split("\t")
    assert header[:4] == ["model", "input", "cached_input", "output"]


def test_help_imports_no_heavy_library() -> None:
    code = ("import sys; sys.argv=['llmctl','--help']\n"
            "from llmctl.cli.app import app\n"
            "try:\n app(prog_name='llmctl')\nexcept SystemExit: pass\n"
            "heavy=[m for m in ('torch','transformers','llama_cpp','openai','mistralai','pydantic')"
            " if m in sys.modules]\n"
            "print('|'+','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "|"


def test_tokenize_openai_imports_no_sdk() -> None:
    code = ("import sys; sys.argv=['llmctl','tokenize','-m','openai:gpt-4o','hello']\n"
            "from llmctl.cli.app import app\n"
            "try:\n app(prog_name='llmctl')\nexcept SystemExit: pass\n"
            "print('|'+','.join(m for m in ('torch','transformers','llama_cpp','openai','mistralai','tiktoken')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "|"


# ------------------------------------------------------------------ empty input counts 0
@pytest.mark.parametrize(("args", "stdin"), [
    ([], ""),          # nothing piped
    ([], "\n"),        # `echo | llmctl tokenize`: the echo's newline is dropped
    ([""], None),      # an empty argument
])
def test_empty_input_counts_zero_as_wc_and_ttok_do(real_tiktoken, args: list[str], stdin: str | None) -> None:
    text = stdin.removesuffix("\n") if stdin is not None else args[0]
    # The references: tiktoken's own count of the same text, and `wc -w` on it.
    wc = subprocess.run(["wc", "-w"], input=text, capture_output=True, text=True, check=True)
    assert len(real_tiktoken["o200k_base"].encode(text)) == int(wc.stdout) == 0
    result = run("tokenize", "-m", "openai:gpt-4o", *args, input=stdin)
    assert (result.exit_code, result.stdout) == (0, "0\n")
    assert "openai:gpt-4o · 0 tokens · " in result.stderr
    record = json.loads(run("tokenize", "--json", "-m", "openai:gpt-4o", *args, input=stdin).stdout)
    assert (record["tokens"], record["cost"]["input"]) == (0, 0)


def test_empty_files_and_records_count_zero_beside_the_others(tmp_path: Path) -> None:
    empty, jsonl = tmp_path / "empty.txt", tmp_path / "in.jsonl"
    empty.write_text("")
    jsonl.write_text('{"id": 1, "text": ""}\n{"id": 2, "text": "hello"}\n')
    assert run("tokenize", "-m", "openai:gpt-4o", "-f", str(empty)).stdout == "0\n"
    assert run("tokenize", "-m", "openai:gpt-4o", "", "hello").stdout.splitlines() == [
        "0 <argument 1>", "1 <argument 2>", "1 total"]
    records = [json.loads(line) for line in run("tokenize", "--json", "-m", "openai:gpt-4o", "--jsonl",
                                                str(jsonl)).stdout.splitlines()]
    assert [(r["id"], r["tokens"]) for r in records] == [(1, 0), (2, 1)]
    compared = run("tokenize", "-m", "openai:gpt-4o", "-m", "mistral:mistral-large-2411", input="")
    assert compared.exit_code == 0
    assert [line.split("\t")[:2] for line in compared.stdout.splitlines()[1:]] == [
        ["openai:gpt-4o", "0"], ["mistral:mistral-large-2411", "0"]]


def test_a_record_whose_text_is_not_a_string_is_still_an_error(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": 5}\n')
    result = run("tokenize", "-m", "openai:gpt-4o", "--jsonl", str(jsonl))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"llmctl: error: {jsonl} line 1: field 'text' must be a string, not int\n"


def test_other_commands_still_refuse_empty_input() -> None:
    result = run("embed", "-m", "openai:text-embedding-3-small", input="")
    assert (result.exit_code, result.stderr) == (2, "llmctl: error: <stdin>: empty input\n")
