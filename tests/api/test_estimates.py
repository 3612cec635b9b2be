"""Usage a server did not report: counted with the served model's tokenizer when a profile names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.fault_server import CHAT_ANSWER, FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.providers.registry import get_tokenizer, resolve_model


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _record(stdout: str) -> dict:  # type: ignore[type-arg]
    # --json --stream writes one delta record per piece of text, then the full record.
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert all("delta" in line for line in lines[:-1]) and "delta" not in lines[-1]
    return lines[-1]


@pytest.mark.parametrize("value", ["spm:/models/tokenizer.model", "smollm2", "hf:"])
def test_an_unknown_tokenizer_is_exit_3_naming_it(faults: FaultServer, user_config, value: str) -> None:
    user_config(f'[profiles.loop]\nkind = "openai"\nbase_url = "{faults.base_url}"\ntokenizer = "{value}"\n')
    result = _cli("complete", "-m", "loop:any", "hi")
    assert result.exit_code == 3
    assert result.stderr == (f"llmctl: error: the profile 'loop' names tokenizer {value!r}, which llmctl does not "
                             "know; name one as hf:PATH or gguf:PATH (or a local alias such as gguf:smollm2)\n")
    assert faults.seen == []  # nothing sent, nothing paid


def test_a_tokenizer_that_is_not_there_is_exit_3(faults: FaultServer, user_config, tmp_path: Path) -> None:
    missing = tmp_path / "gone.gguf"
    user_config(f'[profiles.loop]\nkind = "mistral"\nbase_url = "{faults.base_url}"\ntokenizer = "gguf:{missing}"\n')
    result = _cli("complete", "-m", "loop:any", "hi")
    assert result.exit_code == 3
    assert result.stderr == (f"llmctl: error: the profile 'loop' names tokenizer 'gguf:{missing}', but {missing} "
                             "is not a file\n")
    assert faults.seen == []


def test_a_stream_without_usage_is_counted_with_the_named_tokenizer(faults: FaultServer, user_config) -> None:
    user_config(f'[profiles.loop]\nkind = "openai"\nbase_url = "{faults.base_url}"\ntokenizer = "gguf:smollm2"\n')
    faults.script("streamplain")
    result = _cli("complete", "-m", "loop:smollm2", "--stream", "--json", "--system", "Be brief.", "Name a colour.")
    assert result.exit_code == 0, result.stderr
    usage = _record(result.stdout)["usage"]
    smollm2 = get_tokenizer(resolve_model("smollm2"))
    assert usage["estimated"] is True and usage["tokenizer"] == "gguf:smollm2"
    assert usage["output_tokens"] == smollm2.count(CHAT_ANSWER)
    # The prompt as SmolLM2's chat template lays it out: far more than the two texts alone.
    assert usage["input_tokens"] > smollm2.count("Be brief.") + smollm2.count("Name a colour.") + 10


def test_without_a_named_tokenizer_o200k_counts_and_says_so(faults: FaultServer, real_tiktoken) -> None:
    faults.script("streamplain")
    result = _cli("complete", "--base-url", faults.base_url, "-m", "mistral:local", "--stream", "--json", "hi")
    assert result.exit_code == 0, result.stderr
    usage = _record(result.stdout)["usage"]
    o200k = real_tiktoken["o200k_base"]
    assert usage["tokenizer"] == "tiktoken:o200k_base"
    assert usage["output_tokens"] == len(o200k.encode(CHAT_ANSWER))
    assert usage["input_tokens"] == 3 + len(o200k.encode("user")) + len(o200k.encode("hi")) + 3


@pytest.mark.slow
def test_the_gguf_template_count_matches_transformers_own(faults: FaultServer, user_config,
                                                          smollm2_hf_dir: Path) -> None:
    """llama.cpp's rendering of SmolLM2's template against transformers' apply_chat_template."""
    from transformers import AutoTokenizer

    messages = [{"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Tell me a story about nights and frogs.\n\nShort, please."}]
    ids = AutoTokenizer.from_pretrained(str(smollm2_hf_dir)).apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True)
    # A BatchEncoding or a list of ids, by transformers version.
    reference = len(ids["input_ids"] if hasattr(ids, "keys") else ids)  # type: ignore[index, call-overload]
    for value in ("gguf:smollm2", f"hf:{smollm2_hf_dir}"):
        user_config(f'[profiles.loop]\nkind = "openai"\nbase_url = "{faults.base_url}"\ntokenizer = "{value}"\n')
        faults.script("streamplain")
        result = _cli("complete", "-m", "loop:smollm2", "--stream", "--json", "--system", messages[0]["content"],
                      messages[1]["content"])
        assert result.exit_code == 0, result.stderr
        usage = _record(result.stdout)["usage"]
        assert (usage["tokenizer"], usage["input_tokens"]) == (value, reference)
