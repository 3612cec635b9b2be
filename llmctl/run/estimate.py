"""What a run would cost before it is sent: exact input tokens per model, output as a range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmctl.core.errors import LlmctlError, MissingDependencyError, UsageError
from llmctl.core.inputs import InputItem
from llmctl.core.pricing import price_hint
from llmctl.core.usage import Usage, format_money
from llmctl.providers.base import Tokenizer
from llmctl.providers.registry import get_tokenizer
from llmctl.run.jobs import Job
from llmctl.run.records import price
from llmctl.run.runner import Target


@dataclass
class ModelEstimate:
    """One model's share of a run, counted locally: no network, no key."""

    label: str
    records: int
    input_tokens: int
    max_output_tokens: int
    largest_input: int
    context_window: int | None
    local: bool
    currency: str
    price_as_of: str | None
    input_cost: Decimal
    max_cost: Decimal
    #: what retries could add (a structured answer that fails validation is asked for once more):
    #: counted in `max_cost`
    retry_input_tokens: int = 0
    retry_output_tokens: int = 0
    #: records whose output has no known bound (no --max-tokens, max_output or window): the most they
    #: may cost is unknown, so `max_cost` counts their input only
    unbounded: int = 0
    #: of `input_tokens`, those counted for attachments by the provider's documented rule (an estimate)
    attachment_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        mean = (lambda v: float(v / self.records)) if self.records else (lambda v: 0.0)
        return {
            "model": self.label,
            "records": self.records,
            "input_tokens": self.input_tokens,
            "max_output_tokens": None if self.unbounded else self.max_output_tokens,
            "context_window": self.context_window,
            "context_used": round(self.largest_input / self.context_window, 4) if self.context_window else None,
            "cost": {"min": float(self.input_cost), "max": None if self.unbounded else float(self.max_cost),
                     "currency": self.currency,
                     "price_as_of": self.price_as_of, **({"local": True} if self.local else {})},
            "per_record": {"input_tokens": round(self.input_tokens / self.records, 1) if self.records else 0,
                           "cost_min": mean(self.input_cost),
                           "cost_max": None if self.unbounded else mean(self.max_cost)},
            **({"output_unbounded": True} if self.unbounded else {}),
            **({"attachment_tokens": {"tokens": self.attachment_tokens, "estimated": True}}
               if self.attachment_tokens else {}),
            **({"retries_at_most": {"input_tokens": self.retry_input_tokens,
                                    "output_tokens": self.retry_output_tokens}}
               if self.retry_input_tokens or self.retry_output_tokens else {}),
        }

    def line(self) -> str:
        parts = [self.label, f"{self.records:,} record{'s' if self.records != 1 else ''}",
                 f"{self.input_tokens:,} input tokens"
                 + (f" ({self.attachment_tokens:,} of them attachments, estimated by the provider's rule)"
                    if self.attachment_tokens else "")]
        if self.context_window:
            parts.append(f"largest {100 * self.largest_input / self.context_window:.1f}% of {self.context_window:,}")
        if self.local:
            parts.append("local, no cost")
        elif self.unbounded:
            parts.append(f"{format_money(self.input_cost, self.currency)} and up: output unbounded (no --max-tokens, "
                         "no max_output, no context window known for it)")
        elif not self.max_output_tokens:
            parts.append(format_money(self.input_cost, self.currency))
            if self.records > 1:
                parts.append(f"per record {format_money(self.input_cost / self.records, self.currency)}")
        else:
            retries = (f"; with a retry of each structured answer: up to +{self.retry_input_tokens:,} in, +"
                       f"{self.retry_output_tokens:,} out" if self.retry_input_tokens else "")
            parts.append(f"{format_money(self.input_cost, self.currency)} to "
                         f"{format_money(self.max_cost, self.currency)} "
                         f"(up to {self.max_output_tokens:,} output tokens{retries})")
            if self.records > 1:
                parts.append(f"per record {format_money(self.input_cost / self.records, self.currency)} to "
                             f"{format_money(self.max_cost / self.records, self.currency)}")
        return " · ".join(parts)


def _tokenizer(target: Target, options: dict[str, Any]) -> Tokenizer:
    ref = target.ref
    try:
        found: Tokenizer = get_tokenizer(ref, options)
    except (UsageError, MissingDependencyError):
        raise
    except LlmctlError as exc:
        raise UsageError(f"cannot estimate {ref.label}: {exc.one_line()}") from None
    return found


def estimate_run(job: Job, targets: Sequence[Target], items: Sequence[InputItem], options: dict[str, Any],
                 *, need_price: bool = True) -> tuple[list[ModelEstimate], dict[tuple[str, int], Decimal]]:
    """Each model's estimate, and the worst-case cost of every (model, input index) for budgets."""
    estimates: list[ModelEstimate] = []
    worst: dict[tuple[str, int], Decimal] = {}
    for target in targets:
        ref, provider = target.ref, target.provider
        tokenizer = _tokenizer(target, options)
        probe = price(ref, provider, Usage(1, 0))
        no_output_price = price(ref, provider, Usage(0, 1)).output is None
        if need_price and not probe.local and probe.input is None:
            raise UsageError(f"no price is known for {ref.label}; cannot estimate its cost "
                             f"({price_hint(ref.provider, ref.model, ref.settings)})")
        tokens_in = tokens_out = largest = count = retry_in = retry_out = unbounded = attached = 0
        cost_in = cost_max = Decimal(0)
        for index, item in enumerate(items):
            if item.problem is not None:
                continue
            guess = job.estimate(ref, provider, tokenizer, item.text)
            if need_price and not probe.local and guess.max_output_tokens and no_output_price:
                raise UsageError(f"no output price is known for {ref.label}; cannot estimate its cost "
                                 f"({price_hint(ref.provider, ref.model, ref.settings)})")
            low = price(ref, provider, Usage(guess.input_tokens, 0)).total or Decimal(0)
            # The worst case (and what a budget reserves) includes a retry of every answer that may be
            # asked for again: a request is never sent that could cross a limit.
            high = price(ref, provider, Usage(guess.input_tokens + guess.retry_input_tokens,
                                              guess.max_output_tokens + guess.retry_output_tokens)).total \
                or Decimal(0)
            worst[(ref.label, index)] = high
            tokens_in += guess.input_tokens
            tokens_out += guess.max_output_tokens
            retry_in += guess.retry_input_tokens
            retry_out += guess.retry_output_tokens
            unbounded += guess.unbounded
            attached += guess.attachment_tokens
            largest = max(largest, guess.largest_call if guess.largest_call is not None else guess.input_tokens)
            cost_in += low
            cost_max += high
            count += 1
        window = ref.context_window or tokenizer.context_window
        estimates.append(ModelEstimate(ref.label, count, tokens_in, tokens_out, largest, window, probe.local,
                                       probe.currency, probe.price_as_of, cost_in, cost_max, retry_in, retry_out,
                                       0 if probe.local else unbounded, attached))
    return estimates, worst
