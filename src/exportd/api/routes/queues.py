"""The queues (``ops:read``), and pausing and resuming them (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from exportd.api.deps import Admin, ReadOps
from exportd.api.ops_schemas import QueueList, QueueOut
from exportd.api.routers import api_router
from exportd.ops.queues import QueueOps

router = api_router(prefix="/v1/ops/queues", tags=["ops"])

QueueName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]


def _queues(request: Request) -> QueueOps:
    queues: QueueOps = request.app.state.queues
    return queues


@router.get("", response_model=QueueList)
def list_queues(_reader: ReadOps, request: Request) -> QueueList:
    """Every known queue: paused or not, and its queued and running jobs."""
    return QueueList(items=[QueueOut.of(state) for state in _queues(request).list()])


@router.get("/{name}", response_model=QueueOut)
def get_queue(name: QueueName, _reader: ReadOps, request: Request) -> QueueOut:
    """One queue (404 ``queue_unknown`` for a name never configured nor seen)."""
    return QueueOut.of(_queues(request).get(name))


@router.post("/{name}/pause", response_model=QueueOut)
def pause_queue(name: QueueName, admin: Admin, request: Request) -> QueueOut:
    """Stop new claims on the queue, on every worker, until resumed (a restart keeps it
    paused); jobs already running finish."""
    return QueueOut.of(_queues(request).pause(name, by=admin.user_id))


@router.post("/{name}/resume", response_model=QueueOut)
def resume_queue(name: QueueName, admin: Admin, request: Request) -> QueueOut:
    """Let workers claim the queue's jobs again."""
    return QueueOut.of(_queues(request).resume(name, by=admin.user_id))
