"""The worker's app: what a worker runs, registered by the packages that own it.

The queue and the worker know no domain.  A package plugs in by registering on an
:class:`App` (procrastinate's App, huey's periodic tasks):

- tasks, each with an optional settle hook (``app.task``), run in a child process;
  another package may add its own hook to a task's (``app.also_on_settled``);
- start hooks, called as a supervisor is built (``app.on_start``): what must work before
  any job (a storage opened from a bad URL stops the worker there);
- claim hooks, called in the transaction that claims jobs (``app.on_claimed``): a
  package's record of its jobs starting, with no write of the child's own; what a hook
  read of a job there it may hand to the job's attempt (its claim note, ``ctx.claim_note``)
  so the child need not read it again;
- periodic jobs with their schedules (``app.periodic``), run by one node at a time;
- rescue hooks, called for a job taken back from a vanished worker (``app.on_rescued``);
- discard hooks, called for a result whose outcome was not kept (``app.on_discarded``);
- retention hooks, called in the transaction that prunes old jobs (``app.on_retention``);
- child set-up, called in each child process before it takes jobs (``app.child_setup``).

Hooks and periodic jobs receive a :class:`WorkerContext`: the settings, database, queue
and clock the worker was given, never ones read from the environment.  The composition
root (``exportd.app_wiring``) builds the app; the supervisor receives it, and each child
builds the same one from its :class:`AppRef`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection

from exportd.clock import Clock
from exportd.config import Settings
from exportd.db import Database
from exportd.errors import ConfigError
from exportd.queue.models import Job, Outcome, Settled
from exportd.queue.store import JobStore
from exportd.queue.tasks import SettledHook, Task, TaskFunction, TaskRegistry

T = TypeVar("T")
PeriodicWork = Callable[["WorkerContext"], object]
DiscardHook = Callable[[Outcome, "WorkerContext"], None]
RetentionHook = Callable[[Connection, "WorkerContext"], None]
ChildSetup = Callable[[Settings], None]
StartHook = Callable[["WorkerContext"], None]
# A claim hook returns its notes (what it read of its jobs, by job id), or None.
ClaimHook = Callable[[Connection, list[Job], "WorkerContext"], Mapping[int, Any] | None]


@dataclass(frozen=True, slots=True, eq=False)
class WorkerContext:
    """What a worker hands to hooks and periodic jobs: what it was given."""

    settings: Settings
    db: Database
    store: JobStore
    _shared: dict[Callable[..., Any], Any] = field(default_factory=dict, repr=False)

    @property
    def clock(self) -> Clock:
        return self.store.clock

    def shared(self, factory: Callable[[WorkerContext], T]) -> T:
        """``factory(self)``, built once per worker: a package's resources (a storage)."""
        if factory not in self._shared:
            self._shared[factory] = factory(self)
        return self._shared[factory]  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Periodic:
    """Work one node runs at most once per ``every(settings)`` seconds."""

    name: str
    every: Callable[[Settings], float]
    run: PeriodicWork


@dataclass(frozen=True, slots=True)
class AppRef:
    """How a child process builds the same app: an importable factory
    (``package.module:function``) called with the extra task modules."""

    factory: str
    task_modules: tuple[str, ...] = ()

    def load(self) -> App:
        """The app (in a child process); a factory that cannot be imported is a
        configuration error."""
        module, _, name = self.factory.partition(":")
        try:
            build: Callable[[Iterable[str]], App] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load the worker app {self.factory!r}: {exc}") from exc
        return build(self.task_modules)


class App:
    def __init__(self, ref: AppRef | None = None) -> None:
        self.ref = ref
        self.tasks = TaskRegistry()
        self.start_hooks: list[StartHook] = []
        self.claim_hooks: list[ClaimHook] = []
        self.periodic_jobs: list[Periodic] = []
        self.rescue_hooks: list[SettledHook] = []
        self.discard_hooks: list[DiscardHook] = []
        self.retention_hooks: list[RetentionHook] = []
        self.child_setups: list[ChildSetup] = []

    def task(
        self, name: str, *, on_settled: SettledHook | None = None
    ) -> Callable[[TaskFunction], TaskFunction]:
        """Register a function as the task ``name``; ``on_settled`` runs in the
        transaction that records each outcome."""

        def decorate(function: TaskFunction) -> TaskFunction:
            self.tasks.register(Task(name, function, on_settled))
            return function

        return decorate

    def also_on_settled(self, name: str, hook: SettledHook) -> SettledHook:
        """Another package's hook on the outcomes of task ``name`` (registered before):
        called after the task's own, in the same transaction, with what that one put in
        ``settled.notes``."""
        task = self.tasks.get(name)
        first = task.on_settled

        def both(conn: Connection, settled: Settled, worker: WorkerContext) -> None:
            if first is not None:
                first(conn, settled, worker)
            hook(conn, settled, worker)

        self.tasks.register(Task(name, task.run, both))
        return hook

    def include(self, registry: TaskRegistry) -> None:
        """Add the tasks of another registry (the plugins' default one)."""
        for name in registry.names():
            self.tasks.register(registry.get(name))

    def periodic(
        self, name: str, *, every: Callable[[Settings], float]
    ) -> Callable[[PeriodicWork], PeriodicWork]:
        def decorate(work: PeriodicWork) -> PeriodicWork:
            if any(p.name == name for p in self.periodic_jobs):
                raise ValueError(f"periodic job {name!r} is registered twice")
            self.periodic_jobs.append(Periodic(name, every, work))
            return work

        return decorate

    def on_start(self, hook: StartHook) -> StartHook:
        self.start_hooks.append(hook)
        return hook

    def on_claimed(self, hook: ClaimHook) -> ClaimHook:
        self.claim_hooks.append(hook)
        return hook

    def claimed(self, conn: Connection, jobs: list[Job], worker: WorkerContext) -> dict[int, Any]:
        """Run the claim hooks for ``jobs``, in the claiming transaction: their notes, by
        job id (a note for each job from one hook at most)."""
        notes: dict[int, Any] = {}
        if jobs:
            for hook in self.claim_hooks:
                notes.update(hook(conn, jobs, worker) or {})
        return notes

    def on_rescued(self, hook: SettledHook) -> SettledHook:
        self.rescue_hooks.append(hook)
        return hook

    def on_discarded(self, hook: DiscardHook) -> DiscardHook:
        self.discard_hooks.append(hook)
        return hook

    def on_retention(self, hook: RetentionHook) -> RetentionHook:
        self.retention_hooks.append(hook)
        return hook

    def child_setup(self, setup: ChildSetup) -> ChildSetup:
        self.child_setups.append(setup)
        return setup
