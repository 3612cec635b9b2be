"""`run-local --bench`: prompt-processing and generation speed, time to first token, peak memory."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from llmctl.providers.base import CompletionRequest, ModelRef
from llmctl.providers.gguf.provider import GGUFProvider, _engine

BENCH_QUESTION = "Tell me a long story about nights and frogs."
#: Filler for the prompt-processing run; any plain prose does.
FILLER = ("The quick brown fox jumps over the lazy dog while the river runs past old stone bridges "
          "and the town wakes up to the smell of bread. ")


@dataclass
class BenchResult:
    model: str
    n_ctx: int
    threads: int
    load_s: float
    prompt_tokens: int
    prompt_tokens_per_s: float
    generated_tokens: int
    generation_tokens_per_s: float
    #: From sending the chat request to its first token: its whole prompt evaluated cold, then one
    #: token sampled, as a user waits for it.
    time_to_first_token_ms: float
    #: The tokens of that request's prompt (the chat template laid over the question and filler).
    request_prompt_tokens: int
    peak_rss_mb: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_bench(provider: GGUFProvider, ref: ModelRef, *, load_s: float, prompt_tokens: int = 256,
              gen_tokens: int = 128, seed: int = 0) -> BenchResult:
    """Measure on a loaded model: a `prompt_tokens` prompt evaluated cold, then a chat answer."""
    engine = _engine()
    llm = provider.chat_model(ref)
    n_ctx = provider.context_size(ref, llm)
    prompt_tokens = max(8, min(prompt_tokens, n_ctx - gen_tokens - 64, int(llm.n_batch)))
    filler = engine.tokenize(llm, FILLER * (prompt_tokens // 8 + 8), add_special=True, parse_special=False)
    filler = filler[:prompt_tokens]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(filler)
    pp_s = time.perf_counter() - t0
    llm.reset()

    # The timed request is a chat turn whose prompt is about as long as the prompt measured above,
    # so the first token waits for a prompt of that size to be read, as it would for a user.
    request = _sized_request(provider, ref, prompt_tokens, gen_tokens, seed)
    tokens, stops = provider.prompt_tokens(ref, request)
    sampling = provider.sampling(request, n_ctx - len(tokens))
    llm.reset()  # a cold cache: nothing of this prompt has been read before
    result = engine.generate(llm, tokens, sampling, stops)
    first = result.first_token_at or result.finished
    after_first = max(result.output_tokens - 1, 0)
    gen_rate = after_first / (result.finished - first) if result.finished > first and after_first else 0.0
    return BenchResult(
        model=ref.label,
        n_ctx=n_ctx,
        threads=int(llm.n_threads),
        load_s=round(load_s, 3),
        prompt_tokens=len(filler),
        prompt_tokens_per_s=round(len(filler) / pp_s, 1),
        generated_tokens=result.output_tokens,
        generation_tokens_per_s=round(gen_rate, 1),
        time_to_first_token_ms=round((first - result.started) * 1000, 1),
        request_prompt_tokens=len(tokens),
        peak_rss_mb=round(peak_rss_mb(), 1),
    )


def _sized_request(provider: GGUFProvider, ref: ModelRef, prompt_tokens: int, gen_tokens: int,
                   seed: int) -> CompletionRequest:
    """The bench question with filler before it, so its templated prompt is about prompt_tokens long."""
    def request(words: int) -> CompletionRequest:
        vocabulary = FILLER.split()
        filler = " ".join(vocabulary[i % len(vocabulary)] for i in range(words))
        return CompletionRequest(f"{filler}\n\n{BENCH_QUESTION}", system="You are a storyteller.",
                                 temperature=0.0, max_tokens=gen_tokens, seed=seed)

    base = len(provider.prompt_tokens(ref, request(0))[0])
    words = max(0, prompt_tokens - base)
    while words > 0 and len(provider.prompt_tokens(ref, request(words))[0]) > prompt_tokens:
        words -= max(1, words // 16)
    return request(words)
