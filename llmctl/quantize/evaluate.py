"""Perplexity, top-1 agreement and generation speed of a GGUF model on the user's text.

Perplexity is computed here from the logits llama.cpp returns (llama-cpp-python with
`logits_all`), over windows of a fixed context:

* the text is tokenized once, without special tokens;
* window k holds tokens [k*stride, k*stride + context) and is evaluated from an empty cache;
* every window scores the tokens no earlier window scored, except its own first token (which has
  nothing before it in the window), each token predicted from the tokens before it in the same
  window;
* perplexity = exp(mean negative log-likelihood over every scored token), the log-likelihood
  being a log-softmax over the full vocabulary of the logits at the position before the token.

With stride == context (the default) the windows do not overlap, as in llama.cpp's own
perplexity tool; a smaller stride gives each scored token more context, at more evaluation.
Top-1 agreement is the share of scored positions where a model's most likely next token is the
source model's. Generation speed is greedy decoding of `gen_tokens` tokens after a prompt taken
from the start of the text, timed from the first to the last decoded token.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmctl.core.errors import UsageError

DEFAULT_CONTEXT = 256
DEFAULT_GEN_TOKENS = 32


@dataclass
class EvalResult:
    """One model's figures on one text; `argmax` holds its top-1 token at every scored position."""

    perplexity: float
    scored_tokens: int
    eval_seconds: float
    gen_tokens_per_s: float
    argmax: Any = field(repr=False, default=None)

    @property
    def eval_tokens_per_s(self) -> float:
        return self.scored_tokens / self.eval_seconds if self.eval_seconds > 0 else 0.0


def read_eval_text(path: str | Path) -> str:
    target = Path(path)
    if not target.is_file():
        raise UsageError(f"{path}: no such file for --eval-text")
    try:
        text = target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise UsageError(f"{path}: --eval-text is empty")
    return text


def windows(n_tokens: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """(start, end, first scored index inside the window) for each window over `n_tokens` tokens."""
    if stride < 1 or stride > context:
        raise UsageError(f"--eval-stride must be between 1 and the context ({context}), not {stride}")
    spans = [(0, min(context, n_tokens), 1)]
    scored_to = spans[0][1]
    start = stride
    while scored_to < n_tokens:
        end = min(start + context, n_tokens)
        spans.append((start, end, max(scored_to - start, 1)))
        scored_to = end
        start += stride
    return spans


def log_softmax_nll(logits: Any, targets: Any) -> Any:
    """Negative log-likelihood of each target under the log-softmax of its row of logits.

    The exponentials are taken in float32 after subtracting each row's maximum (every value is
    then in (0, 1]) and summed in float64, so no precision is lost where it matters.
    """
    import numpy as np

    rows = np.asarray(logits, dtype=np.float32)
    peak = rows.max(axis=1)
    shifted = rows - peak[:, None]
    np.exp(shifted, out=shifted)
    log_norm = np.log(shifted.sum(axis=1, dtype=np.float64)) + peak
    return log_norm - rows[np.arange(len(targets)), targets].astype(np.float64)


def open_scorer(model_path: str | Path, context: int, threads: int | None = None) -> Any:
    """A llama.cpp model that keeps the logits of every position, at the given context."""
    from llmctl.providers.gguf.engine import open_llama

    kwargs: dict[str, Any] = {"n_ctx": context, "n_batch": context, "n_ubatch": context, "logits_all": True}
    if threads:
        kwargs["n_threads"] = kwargs["n_threads_batch"] = threads
    try:
        return open_llama(str(model_path), **kwargs)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f"{model_path}: llama.cpp could not load it: {exc}") from None


def tokenize_for_eval(llm: Any, text: str, context: int) -> list[int]:
    from llmctl.providers.gguf.engine import tokenize

    tokens = tokenize(llm, text, add_special=False, parse_special=False)
    if len(tokens) < context:
        raise UsageError(f"--eval-text is too short: {len(tokens)} tokens, and one context window needs "
                         f"{context} (give a longer text or a smaller --eval-ctx)")
    return tokens


def perplexity_pass(llm: Any, tokens: list[int], context: int, stride: int) -> tuple[float, int, float, Any]:
    """(perplexity, scored tokens, seconds, top-1 tokens at the scored positions)."""
    import numpy as np

    nll_sum, scored, tops = 0.0, 0, []
    started = time.perf_counter()
    for start, end, first in windows(len(tokens), context, stride):
        llm.reset()
        llm.eval(tokens[start:end])
        n = end - start
        logits = llm.scores[first - 1:n - 1]
        targets = np.asarray(tokens[start + first:end])
        nll_sum += float(log_softmax_nll(logits, targets).sum())
        scored += len(targets)
        tops.append(logits.argmax(axis=1))
    seconds = time.perf_counter() - started
    return float(np.exp(nll_sum / scored)), scored, seconds, np.concatenate(tops)


def generation_speed(llm: Any, tokens: list[int], context: int, gen_tokens: int = DEFAULT_GEN_TOKENS) -> float:
    """Greedy decoding speed in tokens/s after a short prompt from the text."""
    import numpy as np

    prompt = tokens[: min(32, max(1, context - gen_tokens - 1))]
    llm.reset()
    llm.eval(prompt)
    token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    started = time.perf_counter()
    for _ in range(gen_tokens):
        llm.eval([token])
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    return gen_tokens / (time.perf_counter() - started)


def evaluate(model_path: str | Path, text: str, *, context: int = DEFAULT_CONTEXT, stride: int | None = None,
             threads: int | None = None, gen_tokens: int = DEFAULT_GEN_TOKENS) -> EvalResult:
    """Load `model_path`, run the perplexity pass and the generation timing, free the model."""
    if context < 8:
        raise UsageError(f"--eval-ctx must be at least 8, not {context}")
    llm = open_scorer(model_path, context, threads)
    try:
        tokens = tokenize_for_eval(llm, text, context)
        ppl, scored, seconds, argmax = perplexity_pass(llm, tokens, context, stride or context)
        speed = generation_speed(llm, tokens, context, min(gen_tokens, context // 2))
    finally:
        llm.close()
    return EvalResult(ppl, scored, seconds, speed, argmax)


def top1_agreement(source: EvalResult, other: EvalResult) -> float:
    import numpy as np

    if source.argmax is None or other.argmax is None or len(source.argmax) != len(other.argmax):
        return float("nan")
    return float(np.mean(source.argmax == other.argmax))
