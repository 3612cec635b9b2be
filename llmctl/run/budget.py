"""Spending limits: --max-cost for one invocation, [budget] daily_usd / monthly_usd against the log."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from llmctl.core.errors import BudgetExceededError, UsageError
from llmctl.core.usage import format_money


def parse_max_cost(value: str | None) -> Decimal | None:
    """`--max-cost 2.00` -> Decimal("2.00"); zero, negative or not a number is a usage error."""
    if value is None:
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise UsageError(f"--max-cost must be an amount in USD such as 2.50, not {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise UsageError(f"--max-cost must be more than 0, not {value}")
    return amount


class Budget:
    """Reserves each request's worst case before it is sent, and settles it with what it cost.

    A request is never started when its worst case (exact input tokens and every output token
    it may get) added to what is spent and what is in flight could cross the limit.
    """

    def __init__(self, limit: Decimal, worst: dict[tuple[str, int], Decimal], what: str = "--max-cost") -> None:
        self.limit = limit
        self.what = what
        self.worst = worst
        self.spent = Decimal(0)
        self.in_flight = Decimal(0)
        self.stopped: str | None = None
        self._lock = threading.Lock()

    def check_inputs(self, input_cost: Decimal) -> None:
        """Refuse before the first request when the input alone costs more than the limit."""
        if input_cost > self.limit:
            raise BudgetExceededError(
                f"the input alone would cost {format_money(input_cost)}, over the {self.what} limit of "
                f"{format_money(self.limit)}; nothing was sent")

    def reserve(self, label: str, indices: Sequence[int]) -> Decimal | None:
        need = sum((self.worst.get((label, i), Decimal(0)) for i in indices), Decimal(0))
        with self._lock:
            if self.stopped is not None:
                return None
            if self.spent + self.in_flight + need > self.limit:
                self.stopped = (f"{self.what} {format_money(self.limit)} reached: {format_money(self.spent)} spent; "
                                f"the next request could cost up to {format_money(need)}, so it was not sent")
                return None
            self.in_flight += need
            return need

    def settle(self, reserved: Decimal, actual: Decimal) -> None:
        with self._lock:
            self.in_flight -= reserved
            self.spent += actual

    def stop(self, why: str) -> None:
        with self._lock:
            if self.stopped is None:
                self.stopped = why
