"""--estimate: exact input tokens with each model's tokenizer and chat format, cost as a range, no network."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from support.scripted_run import ScriptedProvider, run


def test_estimate_one_prompt_cost_range_and_nothing_sent() -> None:
    result = run("complete", "--estimate", "--json", "-m", "scripted:chat", "--max-tokens", "5", "a b c")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    # 3 words of prompt at $1 a token; up to 5 output tokens at $2 more.
    assert record["input_tokens"] == 3 and record["max_output_tokens"] == 5
    assert record["cost"]["min"] == 3 and record["cost"]["max"] == 13
    assert record["context_used"] == 0.03
    assert ScriptedProvider.calls == []


def test_estimate_output_ceiling_is_the_models_output_limit() -> None:
    record = json.loads(run("complete", "--estimate", "--json", "-m", "scripted:chat", "a b").stdout)
    assert record["max_output_tokens"] == 10  # max_output of the model in its config
    assert record["cost"]["max"] == 2 + 2 * 10


def test_estimate_a_batch_gives_total_and_mean(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "one"}\n{"text": "one two three"}\n')
    result = run("complete", "--estimate", "-m", "scripted:chat", "--max-tokens", "1", "--jsonl", str(prompts))
    assert result.exit_code == 0
    assert result.stdout == ("scripted:chat · 2 records · 4 input tokens · largest 3.0% of 100 · $4 to $8 "
                             "(up to 2 output tokens) · per record $2 to $4\n")


def test_estimate_with_no_price_or_no_tokenizer_is_exit_2(scripted_backend) -> None:
    scripted_backend('[models.scripted."free"]\ncapabilities = ["complete", "tokenize"]\n')
    result = run("complete", "--estimate", "-m", "scripted:free", "hi")
    assert result.exit_code == 2
    assert result.stderr == ("llmctl: error: no price is known for scripted:free; cannot estimate its cost "
                             "(looked in [prices.scripted]; add [prices.scripted.\"free\"] to the config)\n")
    scripted_backend('[models.scripted."notok"]\ncapabilities = ["complete", "tokenize"]\n'
                     '[prices.scripted."notok"]\ninput = "1"\noutput = "1"\nas_of = "2026-11-01"\nsource = "t"\n')
    result = run("complete", "--estimate", "-m", "scripted:notok", "hi")
    assert result.exit_code == 2
    assert result.stderr == "llmctl: error: no tokenizer is known for scripted:notok\n"


def test_openai_chat_overhead_against_tiktoken() -> None:
    from llmctl.providers.openai.vocab import tiktoken_encoding

    enc = tiktoken_encoding("o200k_base")  # tiktoken itself, on the bundled vocabulary
    prompt, system = "What is the capital of France?", "Answer in one word."
    result = run("complete", "--estimate", "--json", "-m", "openai:gpt-4o-mini", "-s", system, prompt)
    assert result.exit_code == 0, result.stderr
    # 3 framing tokens a message plus its role and content, and 3 priming the reply.
    expected = (3 + len(enc.encode("system")) + len(enc.encode(system))
                + 3 + len(enc.encode("user")) + len(enc.encode(prompt)) + 3)
    assert json.loads(result.stdout)["input_tokens"] == expected


def test_mistral_chat_format_counts_the_instruct_tokens() -> None:
    result = run("complete", "--estimate", "--json", "-m", "mistral:mistral-small-latest", "Hello world")
    record = json.loads(result.stdout)
    # <s> [INST] Hello world [/INST] with the tekken tokenizer.
    assert record["input_tokens"] == 5


def test_embed_estimate_needs_no_key(tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "Hello world"}\n{"text": "foo"}\n')
    result = run("embed", "--estimate", "--json", "--jsonl", str(corpus), "-m", "openai:text-embedding-3-small")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["input_tokens"] == 3 and record["max_output_tokens"] == 0
    assert record["cost"]["min"] == record["cost"]["max"] == pytest.approx(3 * 0.02 / 1e6)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    from llmctl.providers.registry import resolve_model

    model = resolve_model("smollm2").model
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parents[1] / "support" / "serve_llama.py"), "--model", model,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "llama_cpp.server exited before it was ready"
            try:
                if httpx2.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server was not ready in 120 s"
            time.sleep(0.25)
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.slow
@pytest.mark.parametrize("system", [None, "Answer in one word."])
def test_gguf_estimate_matches_what_the_llama_cpp_server_counts(llama_server: str, system: str | None,
                                                               scripted_backend) -> None:
    scripted_backend(f'[profiles.local]\nkind = "openai"\nbase_url = "{llama_server}"\n')
    prompt = "What is the capital of France?"
    flags = ["-s", system] if system else []
    estimate = run("complete", "--estimate", "--json", "-m", "smollm2", *flags, prompt)
    assert estimate.exit_code == 0, estimate.stderr
    if system is None:
        flags = ["-s", "You are a helpful assistant."]  # the smollm2 alias's own system prompt
    sent = run("complete", "--json", "-m", "local:smollm2", "--max-tokens", "2", "--temperature", "0", *flags,
               prompt)
    assert sent.exit_code == 0, sent.stderr
    assert json.loads(estimate.stdout)["input_tokens"] == json.loads(sent.stdout)["usage"]["input_tokens"]
