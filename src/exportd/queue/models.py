"""Values of the queue: states, a job as read, a job to enqueue, an attempt's outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exportd.errors import ErrorInfo


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    """A job to enqueue.  ``max_attempts`` and ``timeout_s`` default to the settings."""

    task: str
    payload: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    run_after: datetime | None = None
    max_attempts: int | None = None
    timeout_s: float | None = None
    unique_key: str | None = None
    correlation_id: str | None = None
    # Fairness: jobs of one key (an owner) take turns with other keys' jobs of the same
    # queue and priority, and at most ``fair_limit`` of the key's jobs run at once.
    # None: the job takes no turn (it goes ahead of keyed jobs of its priority).
    fair_key: str | None = None
    fair_limit: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: int
    queue: str
    task: str
    payload: dict[str, Any]
    state: JobState
    priority: int
    run_after: datetime
    attempt: int
    attempts_used: int
    max_attempts: int
    timeout_s: float | None
    unique_key: str | None
    correlation_id: str | None
    worker_id: str | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    progress: dict[str, Any] | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    # The W3C trace context of whatever enqueued it (None when tracing is off).
    traceparent: str | None = None
    fair_key: str | None = None
    fair_limit: int | None = None
    fair_round: int = 0


@dataclass(frozen=True, slots=True)
class Claimed:
    """The fencing pair: a write on behalf of an attempt must name both."""

    job_id: int
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one attempt ended, as reported to the store."""

    claim: Claimed
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    cancelled: bool = False
    # The attempt's trace context: what its settle hook enqueues joins that trace.
    traceparent: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and not self.cancelled


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled:
    """What the store did with an outcome (``state`` is None when the fence refused it).
    ``notes``: what a settle hook read, for the hooks after it on the same outcome."""

    claim: Claimed
    state: JobState | None
    task: str | None = None
    retry_in_s: float | None = None
    error: ErrorInfo | None = None
    notes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def accepted(self) -> bool:
        return self.state is not None
