"""`complete` on a real model (SmolLM2 as an HF folder) against transformers' own generate()."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.providers.base import CompletionRequest
from llmctl.providers.hf import HFProvider

from .conftest import hf_ref

pytestmark = pytest.mark.slow

CASES = [
    ("You are a helpful assistant.", "Name three colours."),
    (None, "Tell me a story about nights and frogs."),
]


@pytest.fixture(scope="module")
def reference(smollm2_hf_dir: Path):  # type: ignore[no-untyped-def]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_hf_dir))
    model = AutoModelForCausalLM.from_pretrained(str(smollm2_hf_dir), torch_dtype=torch.float32)
    model.eval()

    def greedy(system: str | None, prompt: str, max_new: int) -> tuple[str, int, int]:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=max_new, do_sample=False)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        if new and new[-1] == tokenizer.eos_token_id:
            new = new[:-1]
        return tokenizer.decode(new, skip_special_tokens=True), int(ids["input_ids"].shape[1]), len(new)

    return greedy


@pytest.mark.parametrize(("system", "prompt"), CASES)
def test_greedy_text_and_usage_equal_transformers_generate(smollm2_hf_dir: Path, reference, system: str | None,
                                                           prompt: str) -> None:
    expected, prompt_tokens, new_tokens = reference(system, prompt, 24)
    provider = HFProvider({})
    result = provider.complete(hf_ref(smollm2_hf_dir, "hf:smollm2"),
                               CompletionRequest(prompt, system=system, temperature=0, max_tokens=24))
    assert result.text == expected
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.estimated) == (
        prompt_tokens, new_tokens, False)
    provider.close()


def test_streamed_text_is_the_same_as_transformers_generate(smollm2_hf_dir: Path, reference) -> None:
    expected, _, _ = reference(None, CASES[1][1], 24)
    provider = HFProvider({})
    pieces: list[str] = []
    result = provider.complete(hf_ref(smollm2_hf_dir, "hf:smollm2"),
                               CompletionRequest(CASES[1][1], temperature=0, max_tokens=24, stream=True), pieces.append)
    assert "".join(pieces) == result.text == expected
    provider.close()
