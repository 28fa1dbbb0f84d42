from __future__ import annotations

import pytest

from exportd.queue.retry import RetryPolicy

NO_JITTER = RetryPolicy(max_attempts=5, base_s=10, cap_s=60, jitter=0.0)


@pytest.mark.parametrize(
    ("attempts_used", "retryable", "expected"),
    [
        (1, True, 10.0),  # first failure waits the base
        (2, True, 20.0),  # then doubles
        (3, True, 40.0),
        (4, True, 60.0),  # 80 is capped at 60
        (5, True, None),  # attempts used up: dead letter
        (1, False, None),  # terminal errors never retry
    ],
)
def test_backoff_table(attempts_used: int, retryable: bool, expected: float | None) -> None:
    assert NO_JITTER.next_delay(attempts_used, retryable=retryable) == expected


def test_row_limit_overrides_policy_limit() -> None:
    assert NO_JITTER.next_delay(2, retryable=True, max_attempts=2) is None
    assert NO_JITTER.next_delay(2, retryable=True, max_attempts=9) == 20.0


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_jitter_only_shortens_within_its_fraction(draw: float) -> None:
    policy = RetryPolicy(base_s=10, jitter=0.2, random=lambda: draw)
    delay = policy.next_delay(1, retryable=True)
    assert delay is not None
    assert 8.0 < delay <= 10.0
    assert delay == pytest.approx(10 * (1 - 0.2 * draw))
