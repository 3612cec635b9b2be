"""`complete -c` on an HF chat model: its chat template over the whole stored conversation, counted as
transformers' own `apply_chat_template` counts the same messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from llmctl.cli.app import app


def _ask(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["complete", "--json", "--temperature", "0", "--max-tokens", "4", *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_continued_turn_sends_the_templated_history(tiny_llama_chat: Path) -> None:
    from transformers import AutoTokenizer

    first = _ask("-m", f"hf:{tiny_llama_chat}", "-s", "Be brief.", "Tell me a story")
    second = _ask("-c", "Another one")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story"},
                {"role": "assistant", "content": first["text"]}, {"role": "user", "content": "Another one"}]
    tok = AutoTokenizer.from_pretrained(str(tiny_llama_chat))
    expected = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(expected, dict) or hasattr(expected, "keys"):
        expected = expected["input_ids"]
    assert second["model"] == first["model"]
    assert second["usage"]["input_tokens"] == len(expected)
