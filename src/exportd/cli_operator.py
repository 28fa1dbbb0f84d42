"""The operator's commands on the service's own database: ``exportd status``,
``jobs list|show|retry|cancel``, ``apikey create|list|revoke``, ``plans list|set`` and
``connections check``.  Each calls a service; none opens a transaction itself."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from exportd.cli_common import (
    check_sources,
    existing_database,
    or_exit,
    out,
    settings_or_exit,
)
from exportd.queue import JobState, JobStore
from exportd.queue.operations import QueueOperations

jobs_app = typer.Typer(no_args_is_help=True, help="Inspect and steer queued jobs.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for services and admins.")
plans_app = typer.Typer(no_args_is_help=True, help="Plans and their limits.")
connections_app = typer.Typer(
    no_args_is_help=True, help="Named data connections to the host application's databases."
)


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(keys_app, name="apikey")
    app.add_typer(plans_app, name="plans")
    app.add_typer(connections_app, name="connections")


def _queue() -> QueueOperations:
    settings = settings_or_exit()
    return QueueOperations(existing_database(settings), JobStore.from_settings(settings))


def status() -> None:
    """The queue at a glance: jobs per state, the oldest waiting job, workers alive."""
    overview = _queue().overview()
    depth = Table("state", "jobs")
    for state, count in overview.stats.counts.items():
        depth.add_row(state.value, str(count))
    out.print(depth)
    waited = overview.oldest_wait_s
    if waited is not None:
        # A job queued to run later (a retry's backoff, a delayed job) is not due yet.
        when = f"{waited:.0f} s ago" if waited >= 0 else f"in {-waited:.0f} s"
        out.print(f"oldest queued job: due {when}")
    table = Table("worker", "concurrency", "queues", "last heartbeat")
    for row in overview.workers:
        age = (overview.now - row.last_heartbeat_at).total_seconds()
        table.add_row(row.id, str(row.concurrency), ",".join(row.queues), f"{age:.0f} s ago")
    out.print(table)


@jobs_app.command("list")
def jobs_list(
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List jobs, newest first."""
    table = Table("id", "task", "queue", "state", "attempt", "created", "error")
    for job in _queue().jobs(state=state, task=task, limit=limit):
        error = (job.error or {}).get("code", "")
        table.add_row(
            str(job.id),
            job.task,
            job.queue,
            job.state.value,
            f"{job.attempts_used}/{job.max_attempts}",
            job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(error),
        )
    out.print(table)


# A job id is a positive 64-bit integer: a larger one names no job (and SQLite refuses it).
JobId = Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="The job's id.")]


@jobs_app.command("show")
def jobs_show(job_id: JobId) -> None:
    """Show one job in full."""
    queue = _queue()
    job = or_exit(lambda: queue.job(job_id))
    fields = {name: getattr(job, name) for name in job.__dataclass_fields__}
    out.print_json(json.dumps(fields, default=str))


@jobs_app.command("retry")
def jobs_retry(job_id: JobId) -> None:
    """Requeue a failed job (the dead letter) with a fresh attempt budget."""
    queue = _queue()
    job = or_exit(lambda: queue.retry(job_id))
    out.print(f"job {job.id} queued again")


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobId) -> None:
    """Cancel a queued job, or ask a running one to stop at its next checkpoint."""
    queue = _queue()
    state = or_exit(lambda: queue.cancel(job_id))
    message = "cancelled" if state is JobState.CANCELLED else "cancellation requested"
    out.print(f"job {job_id}: {message}")


@keys_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="exports:read, exports:write, documents:read, documents:write, "
            "destinations:read, destinations:write or admin (repeatable)."
        ),
    ],
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from exportd.auth.api_keys import ApiKeys

    settings = settings_or_exit()
    keys = ApiKeys(existing_database(settings))
    print(or_exit(lambda: keys.create(name, scope)))


@keys_app.command("list")
def apikey_list() -> None:
    """List API keys (never their secrets)."""
    from exportd.auth.api_keys import ApiKeys

    keys = ApiKeys(existing_database(settings_or_exit()))
    table = Table("id", "name", "scopes", "created", "last used", "revoked")
    for key in keys.list_keys():
        table.add_row(
            key.id,
            key.name,
            ",".join(key.scopes),
            str(key.created_at)[:19],
            str(key.last_used_at or "")[:19],
            str(key.revoked_at or "")[:19],
        )
    out.print(table)


@keys_app.command("revoke")
def apikey_revoke(key_id: str) -> None:
    """Revoke an API key at once."""
    from exportd.auth.api_keys import ApiKeys

    keys = ApiKeys(existing_database(settings_or_exit()))
    or_exit(lambda: keys.revoke(key_id))
    out.print(f"API key {key_id} revoked")


@plans_app.command("list")
def plans_list() -> None:
    """Every plan and its limits."""
    from exportd.exports.plan_book import PlanBook

    plans = PlanBook(existing_database(settings_or_exit())).all()
    table = Table(
        "plan",
        "active",
        "running",
        "batch",
        "storage",
        "daily bytes",
        "rows",
        "days",
        "formats",
        "watermark",
    )
    for p in plans:
        table.add_row(
            p.name,
            str(p.max_active_jobs),
            "any" if p.max_running is None else str(p.max_running),
            str(p.max_batch_size),
            str(p.storage_quota_bytes),
            str(p.daily_export_bytes),
            str(p.max_rows),
            str(p.retention_days),
            ",".join(p.formats_allowed),
            str(p.watermark),
        )
    out.print(table)


@plans_app.command("set")
def plans_set(
    name: str,
    max_active_jobs: Annotated[int | None, typer.Option(min=1)] = None,
    max_batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    storage_quota_bytes: Annotated[int | None, typer.Option(min=0)] = None,
    daily_export_bytes: Annotated[int | None, typer.Option(min=0)] = None,
    max_rows: Annotated[int | None, typer.Option(min=1)] = None,
    retention_days: Annotated[int | None, typer.Option(min=1)] = None,
    max_running: Annotated[
        int | None, typer.Option(min=1, help="Exports one owner runs at once (fair claims).")
    ] = None,
    formats: Annotated[str | None, typer.Option(help="Comma-separated formats.")] = None,
    watermark: Annotated[bool | None, typer.Option("--watermark/--no-watermark")] = None,
) -> None:
    """Change a plan's limits (a new plan starts from the free plan's)."""
    from exportd.exports.plan_book import PlanBook

    book = PlanBook(existing_database(settings_or_exit()))
    changes: dict[str, Any] = {
        key: value
        for key, value in {
            "max_active_jobs": max_active_jobs,
            "max_batch_size": max_batch_size,
            "storage_quota_bytes": storage_quota_bytes,
            "daily_export_bytes": daily_export_bytes,
            "max_rows": max_rows,
            "retention_days": retention_days,
            "max_running": max_running,
            "formats_allowed": tuple(f.strip() for f in formats.split(",") if f.strip())
            if formats is not None
            else None,
            "watermark": watermark,
        }.items()
        if value is not None
    }
    or_exit(lambda: book.change(name, **changes))
    out.print(f"plan {name} saved")


@connections_app.command("check")
def connections_check() -> None:
    """Connect to each named data connection and say whether it answers (exit 1 if one
    does not)."""
    from exportd.sources.connections import DataConnections

    settings = settings_or_exit()
    check_sources(settings)
    connections = DataConnections(settings.connections)
    try:
        results = connections.check_all()
    finally:
        connections.dispose()
    if not results:
        out.print("no connections configured (\\[connections.NAME] or EXPORTD_CONNECTIONS)")
        return
    width = max(len(name) for name in results)
    for name, result in results.items():
        spec = settings.connections[name]
        mode = "read-only" if spec.read_only else "read-write"
        colour = "green" if result == "ok" else "red"
        line = f"{name:{width}}  {spec.engine:10}  {mode:10}  [{colour}]{result}[/{colour}]"
        out.print(line, soft_wrap=True, highlight=False)
    if any(result != "ok" for result in results.values()):
        raise typer.Exit(1)
