"""Claim notes waiting for their jobs to start: what the claim's hooks read of each job
(queue/app.py), handed to the child with the job so it need not read it again."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

# A note older than this when its job starts is not handed on: the child reads afresh
# (a prefetched job may wait long behind another).
FRESH_S = 1.0


class ClaimNotes:
    def __init__(self) -> None:
        self._notes: dict[int, tuple[Any, float]] = {}  # by job id, with when they were read

    def keep(self, notes: Mapping[int, Any]) -> None:
        """Keep these notes; drop those too old to be handed on (jobs handed back, or
        taken away, whose notes nobody will take)."""
        read_at = time.monotonic()
        stale = [job_id for job_id, (_, at) in self._notes.items() if read_at - at >= FRESH_S]
        for job_id in stale:
            del self._notes[job_id]
        self._notes.update((job_id, (note, read_at)) for job_id, note in notes.items())

    def take(self, job_id: int) -> Any:
        """The job's note if it is still fresh, else None; either way it is forgotten."""
        note, read_at = self._notes.pop(job_id, (None, 0.0))
        return note if time.monotonic() - read_at < FRESH_S else None

    def forget(self, job_id: int | None = None) -> None:
        """Forget one job's note (its job was handed back or taken away), or all."""
        if job_id is None:
            self._notes.clear()
        else:
            self._notes.pop(job_id, None)
