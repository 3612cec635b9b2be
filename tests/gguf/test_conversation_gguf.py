"""`complete -c` on the embedded SmolLM2: the model's own chat template applied to the whole stored
conversation, checked against llama-cpp-python's `create_chat_completion` on the same messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app

from .conftest import SMOLLM2

pytestmark = pytest.mark.slow
SYSTEM = "You are a helpful assistant."
SETTINGS = ["--temperature", "0", "--top-p", "0.9", "--repeat-penalty", "1.1", "--max-tokens", "24"]


def _ask(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["complete", "--json", *SETTINGS, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_continued_turn_is_what_llama_cpp_makes_of_the_same_messages() -> None:
    first = _ask("-m", "smollm2", "-s", SYSTEM, "Name three colours.")
    second = _ask("-c", "Which of them is the colour of the sky?")
    assert second["model"] == "gguf:smollm2"
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Name three colours."},
                {"role": "assistant", "content": first["text"]},
                {"role": "user", "content": "Which of them is the colour of the sky?"}]
    import llama_cpp

    from llmctl.providers.gguf import engine

    with engine.model_params_patch():
        llm = llama_cpp.Llama(str(SMOLLM2), n_ctx=2048, verbose=False)
    try:
        theirs = llm.create_chat_completion(messages=messages, temperature=0.0, top_p=0.9, repeat_penalty=1.1,
                                            max_tokens=24)
    finally:
        llm.close()
    assert second["usage"]["input_tokens"] == theirs["usage"]["prompt_tokens"]
    assert second["text"] == theirs["choices"][0]["message"]["content"]
    assert second["usage"]["input_tokens"] > first["usage"]["input_tokens"] + first["usage"]["output_tokens"]
