"""The composition root of the worker: which packages plug into it.

The queue and the worker are generic (``exportd.queue.app``); here the built-in tasks,
exports, deliveries (emails, webhooks, destinations), operations and schedules register on
one :class:`App`, then the plugins' task modules (``--import``, ``EXPORTD_TASK_MODULES``,
the ``exportd.tasks`` entry points).
The supervisor receives the app; each child builds the same one from ``app.ref``.
"""

from __future__ import annotations

from collections.abc import Iterable

from exportd import tracing
from exportd.delivery import jobs as delivery
from exportd.destinations import jobs as destinations
from exportd.exports import worker as exports
from exportd.ops import maintenance
from exportd.queue.app import App, AppRef, WorkerContext
from exportd.queue.tasks import load_task_modules
from exportd.schedules import worker as schedules
from exportd.worker import builtin_tasks

FACTORY = "exportd.app_wiring:worker_app"


def worker_app(task_modules: Iterable[str] = ()) -> App:
    """The worker's app; a task module that cannot be imported is a ConfigError."""
    modules = tuple(task_modules)
    app = App(ref=AppRef(FACTORY, modules))
    # Traces (EXPORTD_OTEL_ENABLED) from the supervisor, which enqueues deliveries as it
    # settles, and from each child, which runs the attempts.
    app.on_start(_trace)
    app.child_setup(tracing.configure)
    builtin_tasks.register(app)
    exports.register(app)
    delivery.register(app)
    destinations.register(app)
    maintenance.register(app)
    schedules.register(app)  # after exports: it adds a hook to the export task
    app.include(load_task_modules(modules))
    return app


def _trace(context: WorkerContext) -> None:
    tracing.configure(context.settings)
