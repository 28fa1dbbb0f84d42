"""Retries as data: how long to wait before the next attempt, or None to stop."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Capped exponential backoff with jitter.

    The n-th retry waits ``min(cap, base * 2**(n-1))`` seconds, minus up to ``jitter``
    of it at random, so a burst of failures does not come back as a burst.
    """

    max_attempts: int = 3
    base_s: float = 10.0
    cap_s: float = 600.0
    jitter: float = 0.25
    random: Callable[[], float] = field(default=random.random, compare=False)

    def next_delay(
        self, attempts_used: int, *, retryable: bool, max_attempts: int | None = None
    ) -> float | None:
        """Seconds before the next attempt after ``attempts_used`` failed ones, or None."""
        limit = self.max_attempts if max_attempts is None else max_attempts
        if not retryable or attempts_used >= limit:
            return None
        delay: float = min(self.cap_s, self.base_s * 2.0 ** max(attempts_used - 1, 0))
        return delay * (1.0 - self.jitter * self.random())
