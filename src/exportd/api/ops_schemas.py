"""Operators' answers: cleanup runs and queues."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from exportd.queue.control import QueueState


class CleanupOut(BaseModel):
    dry_run: bool
    expired_removed: int
    failed: int
    orphans_removed: int
    expired_export_ids: list[str]
    failed_export_ids: list[str]
    orphan_keys: list[str]


class QueueOut(BaseModel):
    name: str
    paused: bool = Field(description="claims skip a paused queue; its running jobs finish")
    paused_at: datetime | None
    paused_by: str | None = Field(description="the principal that paused it")
    queued: int = Field(description="jobs waiting in it")
    running: int = Field(description="jobs of it running now")

    @classmethod
    def of(cls, state: QueueState) -> QueueOut:
        return cls(
            name=state.name,
            paused=state.paused,
            paused_at=state.paused_at,
            paused_by=state.paused_by,
            queued=state.queued,
            running=state.running,
        )


class QueueList(BaseModel):
    items: list[QueueOut]
