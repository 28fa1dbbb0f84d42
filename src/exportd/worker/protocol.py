"""The messages between the supervisor and a child, as small tuples over a pipe.

supervisor -> child: ("run", RunRequest) | ("cancel", job_id, attempt) | ("stop",)
child -> supervisor: ("ready",)  once its task modules are loaded
                   | ("progress", job_id, attempt, dict)
                   | ("done", job_id, attempt, result | None, ErrorInfo | None, cancelled)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RunRequest:
    job_id: int
    attempt: int
    task: str
    payload: dict[str, Any]
    correlation_id: str | None
