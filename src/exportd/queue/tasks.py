"""Tasks: what a job runs.  A task is a function of a context and the job's payload.

The function runs in a worker's child process; it reports progress and honours
cancellation at ``ctx.checkpoint(...)``.  A task may also name ``on_settled``, which the
supervisor calls inside the same transaction that records the job's outcome, so domain
rows (an export and its artifact) change together with the job; it receives the
worker's context (settings, clock, queue).

Packages register their tasks on the worker's app (:mod:`exportd.queue.app`); a plugin
module uses ``@task`` here, which fills the default registry the app includes.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection

from exportd.errors import ConfigError, UnknownTask
from exportd.queue.models import Settled

if TYPE_CHECKING:
    from exportd.queue.app import WorkerContext

ENTRY_POINT_GROUP = "exportd.tasks"


class JobContext(Protocol):
    job_id: int
    attempt: int
    correlation_id: str | None
    # What the claim's hooks read of the job in the claiming transaction (None: nothing,
    # or not fresh any more): the task need not read it again.
    claim_note: Any

    def checkpoint(self, **progress: Any) -> None:
        """Report progress; raises JobCancelled when cancellation was requested."""

    @property
    def cancel_requested(self) -> bool: ...


TaskFunction = Callable[[JobContext, dict[str, Any]], dict[str, Any] | None]
SettledHook = Callable[[Connection, Settled, "WorkerContext"], None]


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    run: TaskFunction
    on_settled: SettledHook | None = None


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def register(self, task: Task) -> None:
        existing = self._tasks.get(task.name)
        if existing is not None and existing.run is not task.run:
            raise ValueError(f"task {task.name!r} is registered twice")
        self._tasks[task.name] = task

    def get(self, name: str) -> Task:
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(f"no task named {name!r} is registered in this worker") from None

    def find(self, name: str | None) -> Task | None:
        return self._tasks.get(name) if name else None

    def names(self) -> list[str]:
        return sorted(self._tasks)


# The plugins' tasks (``@task``), which the worker's app includes.
registry = TaskRegistry()


def task(
    name: str,
    *,
    on_settled: SettledHook | Callable[[Connection, Settled], None] | None = None,
) -> Callable[[TaskFunction], TaskFunction]:
    """Register a function as the task ``name`` in the default registry.  A settle hook
    of two arguments ``(conn, settled)``, as plugins wrote them before hooks were given
    the worker's context, still works."""
    hook = _with_context(on_settled) if on_settled is not None else None

    def decorate(function: TaskFunction) -> TaskFunction:
        registry.register(Task(name, function, hook))
        return function

    return decorate


def _with_context(hook: Callable[..., None]) -> SettledHook:
    try:
        takes = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):  # a builtin or C function: call it as declared now
        return hook
    positional = [p for p in takes if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in takes)
    if variadic or len(positional) != 2:
        return hook

    def two_arguments(conn: Connection, settled: Settled, _worker: WorkerContext) -> None:
        hook(conn, settled)

    return two_arguments


def load_task_modules(modules: Iterable[str]) -> TaskRegistry:
    """Import the configured task modules and the plugins' (entry points); returns the
    registry their ``@task`` filled."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"EXPORTD_TASK_MODULES: cannot import {module!r}: {exc}") from exc
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()
    return registry
