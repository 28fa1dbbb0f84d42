"""Every queue operation as one named method over SQL; the only package that queries ``jobs``.

Each method takes the caller's connection, so a domain row and its job commit together
(enqueue), and a worker can settle finished jobs and claim new ones in one transaction.
Writes on behalf of an attempt are fenced on ``(id, attempt, state='running')``: a
worker that lost its lease matches nothing and learns so (``LeaseLost`` or a refused
``Settled``) instead of overwriting a newer attempt.

The methods live by side: producers (:mod:`~exportd.queue.enqueue`), workers
(:mod:`~exportd.queue.claim`, with fair turns in :mod:`~exportd.queue.fair`), outcomes
(:mod:`~exportd.queue.settle`) and operators (:mod:`~exportd.queue.operators`).
"""

from __future__ import annotations

from datetime import timedelta

from exportd.clock import Clock, SystemClock
from exportd.config import Settings
from exportd.queue.claim import Claiming, LeaseReport
from exportd.queue.enqueue import Enqueued, Enqueueing
from exportd.queue.operators import Operating, QueueStats
from exportd.queue.retry import RetryPolicy
from exportd.queue.settle import Settling
from exportd.queue.sql import LEASE_EXPIRED, NOTIFY_CHANNEL

__all__ = [
    "LEASE_EXPIRED",
    "NOTIFY_CHANNEL",
    "Enqueued",
    "JobStore",
    "LeaseReport",
    "QueueStats",
]


class JobStore(Enqueueing, Claiming, Settling, Operating):
    def __init__(
        self,
        *,
        policy: RetryPolicy,
        lease_s: float = 30.0,
        default_timeout_s: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        # ``policy.max_attempts`` is what every job enqueued here gets unless it names
        # its own (settings.job_attempts through ``from_settings``).
        self.policy = policy
        self.lease = timedelta(seconds=lease_s)
        self.default_timeout_s = default_timeout_s
        self.clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> JobStore:
        policy = RetryPolicy(
            max_attempts=settings.job_attempts,
            base_s=settings.job_backoff_ms / 1000,
            cap_s=settings.job_backoff_cap_ms / 1000,
        )
        return cls(policy=policy, lease_s=settings.job_lease_s, clock=clock)
