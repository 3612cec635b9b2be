"""How likely each of a few short answers is after a prompt, on every backend that gives log-probabilities."""

from __future__ import annotations

import dataclasses
import math

from llmctl.core.errors import ProviderError, UsageError
from llmctl.core.usage import Usage
from llmctl.providers.base import CompletionRequest, ModelRef, Provider

#: alternatives asked for per token from an API that reports top log-probabilities
TOP_LOGPROBS = 20
SCORING_BACKENDS = "gguf, hf (generation models) and openai"


def require_scores(provider: Provider, ref: ModelRef) -> None:
    if not provider.gives_logprobs(ref):
        raise UsageError(f"--scores needs log-probabilities, which {ref.label} ({provider.kind}) does not give; "
                         f"models that do: {SCORING_BACKENDS}")


def softmax(values: list[float]) -> list[float]:
    peak = max(values)
    weights = [math.exp(v - peak) for v in values]
    total = sum(weights)
    return [w / total for w in weights]


def option_probabilities(provider: Provider, ref: ModelRef, request: CompletionRequest,
                         options: list[str]) -> tuple[list[float], Usage, int]:
    """P(option | prompt), normalised over the options.

    Local models score each option's tokens after the prompt (the prompt evaluated once). An API
    that reports top log-probabilities answers with one token; each option gets the probability
    of the alternatives its text starts with (shared equally where options share a start).
    """
    if type(provider).score_continuations is not Provider.score_continuations:
        scored = provider.score_continuations(ref, request, options)
        return softmax(scored.logprobs), scored.usage, 1
    one_token = dataclasses.replace(request, max_tokens=1, temperature=0.0, logprobs=TOP_LOGPROBS,
                                    json_schema=None, stream=False)
    completion = provider.complete(ref, one_token)
    if not completion.logprobs:
        raise ProviderError(f"{ref.label}: the answer came back without log-probabilities")
    mass = [0.0] * len(options)
    lowered = [o.strip().lower() for o in options]
    first = completion.logprobs[0]
    for token, logprob in first.top or ((first.token, first.logprob),):
        piece = token.strip().lower()
        if not piece:
            continue
        hits = [i for i, option in enumerate(lowered) if option.startswith(piece)]
        for i in hits:
            mass[i] += math.exp(logprob) / len(hits)
    total = sum(mass)
    if total <= 0:
        raise ProviderError(f"{ref.label}: none of the {len(options)} options is among the "
                            f"{TOP_LOGPROBS} likeliest first tokens")
    return [m / total for m in mass], completion.usage, 1
