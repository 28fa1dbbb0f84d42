"""The messages between the supervisor and a child, as small tuples over a pipe.

supervisor -> child: ("run", RunRequest) | ("cancel", job_id, attempt) | ("stop",)
child -> supervisor: ("ready",)  once its task modules are loaded
                   | ("progress", job_id, attempt, dict)
                   | ("done", job_id, attempt, result | None, ErrorInfo | None, cancelled,
                      traceparent | None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exportd.queue.models import Claimed, Outcome


@dataclass(frozen=True, slots=True)
class RunRequest:
    job_id: int
    attempt: int
    task: str
    payload: dict[str, Any]
    correlation_id: str | None
    traceparent: str | None = None  # the context the job was enqueued in
    note: Any = None  # what the claim's hooks read of the job (queue/app.py), or None


def outcome_of(claim: Claimed, done: tuple[Any, ...]) -> Outcome:
    """The outcome a ``done`` message reports for the attempt ``claim``."""
    _, _, _, result, error, cancelled, traceparent = done
    return Outcome(
        claim=claim, result=result, error=error, cancelled=cancelled, traceparent=traceparent
    )
