"""JSON-schema constrained generation for HF models through llguidance, a transformers logits processor.

llguidance was chosen over xgrammar and outlines: it installs as one wheel with no dependencies
(xgrammar pulls in triton, outlines a whole framework), works with any fast tokenizer and with
the installed transformers, and computes the token mask in Rust without a warm-up compile.
"""

from __future__ import annotations

import functools
import json
from typing import Any


def available() -> bool:
    try:
        import llguidance  # noqa: F401
        import llguidance.hf  # noqa: F401
        import llguidance.torch  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer: Any, n_vocab: int, eos: tuple[int, ...]) -> Any:
    import llguidance.hf

    # Building the token trie takes about a second; one per loaded tokenizer.
    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab, eos_token=list(eos) or None)


def json_schema_processor(tokenizer: Any, n_vocab: int, eos_ids: set[int], schema: dict[str, Any],
                          prompt_length: int) -> Any:
    """A LogitsProcessor that lets only tokens continuing a JSON text valid for `schema` through."""
    import llguidance
    import llguidance.torch as lltorch
    from transformers import LogitsProcessor

    ll_tok = _ll_tokenizer(tokenizer, n_vocab, tuple(sorted(eos_ids)))
    grammar = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema))
    matcher = llguidance.LLMatcher(ll_tok, grammar)
    if matcher.is_error():
        raise ValueError(f"llguidance rejected the schema: {matcher.get_error()}")
    mask = lltorch.allocate_token_bitmask(1, ll_tok.vocab_size)

    class JsonSchemaMask(LogitsProcessor):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            generated = input_ids.shape[1] - prompt_length
            if generated > 0 and not matcher.is_stopped():
                matcher.consume_token(int(input_ids[0, -1]))
            lltorch.fill_next_token_bitmask(matcher, mask, 0)
            width = min(scores.shape[-1], ll_tok.vocab_size)
            # Logits beyond the tokenizer's vocabulary (padding rows) are never valid.
            if scores.shape[-1] > width:
                scores[:, width:] = float("-inf")
            lltorch.apply_token_bitmask_inplace(scores[:, :width], mask.to(scores.device))
            return scores

    return JsonSchemaMask()
