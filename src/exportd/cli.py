"""The command line: ``exportd serve | worker | migrate | demo | jobs …``.

Settings are read here, at the edge, and passed to everything else.  A bad setting
ends the command with a message naming it and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from exportd import cli_queues, cli_schedules
from exportd.config import Settings, load_settings
from exportd.db import Database, create_database
from exportd.errors import ConfigError, ExportdError
from exportd.logs import configure_logging
from exportd.private import private_umask
from exportd.queue import JobState, JobStore

app = typer.Typer(no_args_is_help=True, help="exportd: asynchronous exports as a service.")
jobs_app = typer.Typer(no_args_is_help=True, help="Inspect and steer queued jobs.")
app.add_typer(jobs_app, name="jobs")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for services and admins.")
app.add_typer(keys_app, name="apikey")
plans_app = typer.Typer(no_args_is_help=True, help="Plans and their limits.")
app.add_typer(plans_app, name="plans")
connections_app = typer.Typer(
    no_args_is_help=True, help="Named data connections to the host application's databases."
)
app.add_typer(connections_app, name="connections")
app.add_typer(cli_schedules.app, name="schedules")
app.add_typer(cli_queues.app, name="queues")

T = TypeVar("T")
out = Console()
err = Console(stderr=True, soft_wrap=True)


def _settings(**overrides: object) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None
    configure_logging(settings)
    return settings


def _check_services(settings: Settings) -> None:
    """Start-up checks of what a long-running process depends on: a bad SMTP URL is
    refused anywhere; in production an unreachable SMTP server stops the start; the
    Chromium engine without its browser or Playwright stops it anywhere; so does tracing
    switched on without its extra or with an exporter that does not load."""
    from exportd import tracing
    from exportd.delivery.smtp import SmtpServer
    from exportd.documents.chromium import check_chromium

    try:
        tracing.configure(settings)
        if settings.pdf_engine == "chromium":
            check_chromium(settings.chromium_path)
        if settings.smtp_url is None:
            return
        server = SmtpServer.from_url(settings.smtp_url.get_secret_value())
        if settings.env == "production":
            server.check()
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None


def _check_sources(settings: Settings) -> None:
    """Every source loads, and each one's named connection is configured (a source on
    an unknown connection stops the start, naming both)."""
    from exportd.sources.loading import load_sources

    try:
        load_sources(settings.source_modules, settings.sql_sources, settings.connections)
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None


def _metrics_dir() -> None:
    """Give this process tree one Prometheus multiprocess directory, so a scrape sums the
    supervisor and its children (or the API's processes).  Must run before anything
    imports prometheus_client; a directory given by the environment is used as is."""
    import atexit
    import os
    import shutil
    import tempfile

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    path = tempfile.mkdtemp(prefix="exportd-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    atexit.register(shutil.rmtree, path, True)
    _exit_on_sigterm()


def _exit_on_sigterm() -> None:
    """A SIGTERM ends this process by ``SystemExit`` (status 143, as a shell counts a
    SIGTERM), so ``finally`` blocks and ``atexit`` run: uvicorn re-raises the signal
    after its graceful stop, and by default that would kill the process on the spot."""
    import signal

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, stop)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (safe to run on every deploy)."""
    from exportd.db.migrate import current_revision, upgrade

    settings = _settings()
    db = create_database(settings)
    upgrade(db)
    out.print(f"database at revision {current_revision(db)}")
    db.dispose()


@app.command()
def token(
    user: Annotated[str, typer.Argument(help="The user id (the token's sub).")],
    plan: Annotated[str, typer.Option(help="The plan claim.")] = "free",
    email: Annotated[str | None, typer.Option(help="The email claim.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Grant admin rights.")] = False,
    ttl: Annotated[int, typer.Option(min=60, help="Lifetime in seconds.")] = 86_400,
) -> None:
    """Print a user token signed with the HS256 key, as a host application mints one."""
    from exportd.auth.tokens import mint
    from exportd.config import hs256_key

    key = hs256_key(_settings())
    if key is None:
        err.print("[red]exportd: no HS256 key: this server takes only JWKS tokens[/red]")
        raise typer.Exit(2)
    print(mint(user, secret=key, plan=plan, email=email, admin=admin, ttl_s=ttl))


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Child processes (jobs at once).")] = None,
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to take jobs from.")
    ] = "default",
    imports: Annotated[
        list[str] | None, typer.Option("--import", help="Extra task modules to load.")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics on this port (0: off; EXPORTD_WORKER_METRICS_PORT)."),
    ] = None,
) -> None:
    """Run a worker: claim jobs and run each in a child process."""
    private_umask()  # before anything creates a file; its children inherit it
    _metrics_dir()
    from exportd.app_wiring import worker_app
    from exportd.ops.metrics import serve_worker_metrics
    from exportd.worker.supervisor import Supervisor

    settings = _settings()
    _check_services(settings)
    _check_sources(settings)
    modules = [*settings.task_modules, *(imports or [])]
    try:
        app = worker_app(modules)
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None
    db = create_database(settings, pre_ping=False)
    store = JobStore.from_settings(settings)
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        serve_worker_metrics(port, settings.worker_metrics_host, db, store)
    supervisor = Supervisor(
        settings=settings,
        db=db,
        store=store,
        app=app,
        concurrency=concurrency or settings.worker_concurrency,
        queues=[q.strip() for q in queues.split(",") if q.strip()],
    )
    supervisor.run()
    db.dispose()
    if supervisor.interrupted:
        raise typer.Exit(130)  # Ctrl-C, as a shell counts it


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (one per core).")] = 1,
) -> None:
    """Run the HTTP API."""
    _refuse_unusable_port(host, port, "exportd serve --port {port}")
    private_umask()
    _metrics_dir()
    settings = _settings()
    _check_services(settings)
    _check_sources(settings)
    _run_api(host=host, port=port, workers=workers, settings=settings)


def _run_api(*, host: str, port: int, workers: int, settings: Settings) -> None:
    from exportd.api import server

    if server.run(host=host, port=port, workers=workers, log_level=settings.log_level):
        raise typer.Exit(130)  # Ctrl-C, as a shell counts it


def _refuse_unusable_port(host: str, port: int, *fixes: str) -> None:
    """Before anything starts or prints: a port that is taken, named with the commands
    that would use a free one instead."""
    from exportd.api.server import free_port_after, listen_problem

    problem = listen_problem(host, port)
    if problem is None:
        return
    if problem == "in use":
        other = free_port_after(host, port) or port + 1
        tries = " or ".join(f"`{fix.format(port=other)}`" for fix in fixes)
        err.print(f"[red]exportd: port {port} is in use: try {tries}[/red]")
    else:
        err.print(f"[red]exportd: cannot listen on {host}:{port}: {problem}[/red]")
    raise typer.Exit(1)


DEMO_SOURCES = "exportd.demo.sources:demo_sources"


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port for the API and the page.")] = 8000,
) -> None:
    """Everything in one command on the embedded defaults: demo data, a worker, the API."""
    _refuse_unusable_port("127.0.0.1", port, "make demo PORT={port}", "exportd demo --port {port}")
    private_umask()  # ./var and what is in it: this user's only
    _metrics_dir()  # the worker it starts and the API share it: /metrics shows both
    import os

    from exportd.config import jwt_key
    from exportd.db.migrate import upgrade
    from exportd.demo.seed import seed_demo
    from exportd.demo.users import DEMO_USERS

    os.environ.setdefault("EXPORTD_PAGE_SIGN_IN_DEMO", "true")
    # Links in emails and the OpenAPI's server name the port the demo listens on.
    os.environ.setdefault("EXPORTD_PUBLIC_URL", f"http://127.0.0.1:{port}")
    settings = _with_demo_sources(_settings())
    db = create_database(settings)
    upgrade(db)
    seeded = seed_demo(db, JobStore.from_settings(settings))
    db.dispose()
    worker_process = subprocess.Popen(
        [sys.executable, "-m", "exportd", "worker"], preexec_fn=_stop_with_parent
    )
    try:
        key = jwt_key(settings)
        out.print(f"[bold]exportd demo[/bold] on http://127.0.0.1:{port}  (Ctrl-C stops)")
        out.print(f"  the page: http://127.0.0.1:{port}/exports  (sign in as a demo user)")
        out.print(f"  database: {settings.database_url} ({'seeded' if seeded else 'reused'})")
        out.print(f"  API docs: http://127.0.0.1:{port}/docs")
        for user in DEMO_USERS:
            role = f"{user.plan}{', admin' if user.admin else ''}"
            out.print(f"  {user.name} ({role}): {user.token(key)}", soft_wrap=True)
        for body in (
            '{"source": "trades", "format": "csv"}',
            '{"source": "resume", "format": "pdf"}',
        ):
            out.print(
                f"  try: curl -s -X POST localhost:{port}/v1/exports "
                f"-H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' "
                f"-d '{body}'",
                soft_wrap=True,
            )
        _run_api(host="127.0.0.1", port=port, workers=1, settings=settings)
    finally:
        worker_process.terminate()
        worker_process.wait(timeout=60)


def _with_demo_sources(settings: Settings) -> Settings:
    """The demo's sources next to those of plugins (EXPORTD_SOURCE_MODULES or the config
    file), not instead of them; checked here, before anything starts or prints.  The
    worker and the API it starts read the list from the environment."""
    import os

    from exportd.sources.loading import load_sources

    modules = [DEMO_SOURCES, *(m for m in settings.source_modules if m != DEMO_SOURCES)]
    os.environ["EXPORTD_SOURCE_MODULES"] = json.dumps(modules)
    settings = settings.model_copy(update={"source_modules": modules})
    try:
        load_sources(settings.source_modules, settings.sql_sources, settings.connections)
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None
    return settings


def _stop_with_parent() -> None:
    """In the demo's worker, before it starts: SIGTERM when the demo process dies, however
    it dies.  uvicorn re-raises a SIGTERM after its graceful stop, so the demo's own
    ``finally`` may never run; without this the worker would outlive it (Linux only)."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@app.command()
def cleanup(
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run/--no-dry-run", help="Report, remove nothing.")
    ] = None,
) -> None:
    """Remove the files of expired and deleted exports, and files nothing refers to."""
    from exportd.ops.cleanup import Cleanup
    from exportd.storage import storage_for

    settings = _settings()
    job = Cleanup(
        db=_existing_database(settings),
        storage=storage_for(settings),
        batch_size=settings.cleanup_batch_size,
        orphan_grace_s=settings.cleanup_orphan_grace_s,
    )
    report = job.run(dry_run=settings.cleanup_dry_run if dry_run is None else dry_run)
    verb = "would remove" if report.dry_run else "removed"
    out.print(
        f"{verb}: {len(report.expired)} expired exports, {len(report.orphans)} orphan files; "
        f"{len(report.failed)} failed (kept for the next run)"
    )


def _open() -> tuple[JobStore, Database]:
    settings = _settings()
    return JobStore.from_settings(settings), _existing_database(settings)


def _existing_database(settings: Settings) -> Database:
    """The migrated database an operator's command works on. Run from the wrong folder,
    the default SQLite path names nothing: say where we looked instead of creating an
    empty database there and failing on its missing tables."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from exportd.db.migrate import current_revision

    url = make_url(settings.database_url)
    path = url.database or ""
    on_disk = path not in ("", ":memory:") and not path.startswith("file:")
    if url.get_backend_name() == "sqlite" and on_disk and not Path(path).is_file():
        err.print(
            f"[red]exportd: no database at {Path(path).resolve()} "
            "(EXPORTD_DATABASE_URL; the default is ./var/exportd.db from where you run "
            "it): run this from the service's folder, set EXPORTD_DATABASE_URL, or "
            "create it with `exportd migrate`[/red]"
        )
        raise typer.Exit(2)
    db = create_database(settings)
    try:
        revision = current_revision(db)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        err.print(f"[red]exportd: cannot reach the database: {reason}[/red]")
        raise typer.Exit(1) from None
    if revision is None:
        err.print("[red]exportd: the database is empty: run `exportd migrate` first[/red]")
        raise typer.Exit(2)
    return db


@app.command()
def status() -> None:
    """The queue at a glance: jobs per state, the oldest waiting job, workers alive."""
    from exportd.queue import workers

    store, db = _open()
    with db.read() as conn:
        stats = store.stats(conn)
        rows = workers.running(conn)
    now = store.clock.now()
    depth = Table("state", "jobs")
    for state, count in stats.counts.items():
        depth.add_row(state.value, str(count))
    out.print(depth)
    if stats.oldest_queued_at is not None:
        wait = (now - stats.oldest_queued_at).total_seconds()
        out.print(f"oldest queued job: due {wait:.0f} s ago")
    table = Table("worker", "concurrency", "queues", "last heartbeat")
    for row in rows:
        age = (now - row.last_heartbeat_at).total_seconds()
        table.add_row(row.id, str(row.concurrency), ",".join(row.queues), f"{age:.0f} s ago")
    out.print(table)


@jobs_app.command("list")
def jobs_list(
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List jobs, newest first."""
    store, db = _open()
    with db.read() as conn:
        found = store.list(conn, state=state, task=task, limit=limit)
    table = Table("id", "task", "queue", "state", "attempt", "created", "error")
    for job in found:
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


@jobs_app.command("show")
def jobs_show(job_id: int) -> None:
    """Show one job in full."""
    store, db = _open()
    with db.read() as conn:
        job = _or_exit(lambda: store.get(conn, job_id))
    fields = {name: getattr(job, name) for name in job.__dataclass_fields__}
    out.print_json(json.dumps(fields, default=str))


@jobs_app.command("retry")
def jobs_retry(job_id: int) -> None:
    """Requeue a failed job (the dead letter) with a fresh attempt budget."""
    store, db = _open()
    with db.write() as conn:
        job = _or_exit(lambda: store.requeue(conn, job_id))
    out.print(f"job {job.id} queued again")


@jobs_app.command("cancel")
def jobs_cancel(job_id: int) -> None:
    """Cancel a queued job, or ask a running one to stop at its next checkpoint."""
    store, db = _open()
    with db.write() as conn:
        state = _or_exit(lambda: store.cancel(conn, job_id))
    message = "cancelled" if state is JobState.CANCELLED else "cancellation requested"
    out.print(f"job {job_id}: {message}")


def _or_exit(action: Callable[[], T]) -> T:
    try:
        return action()
    except ExportdError as exc:
        err.print(f"[red]exportd: {exc.message}[/red] ({exc.code})")
        raise typer.Exit(1) from None


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

    settings = _settings()
    keys = ApiKeys(_existing_database(settings))
    print(_or_exit(lambda: keys.create(name, scope)))


@keys_app.command("list")
def apikey_list() -> None:
    """List API keys (never their secrets)."""
    from exportd.auth.api_keys import ApiKeys

    keys = ApiKeys(_existing_database(_settings()))
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

    keys = ApiKeys(_existing_database(_settings()))
    _or_exit(lambda: keys.revoke(key_id))
    out.print(f"API key {key_id} revoked")


@plans_app.command("list")
def plans_list() -> None:
    """Every plan and its limits."""
    from exportd.exports.plans import all_plans

    db = _existing_database(_settings())
    with db.read() as conn:
        plans = all_plans(conn)
    table = Table(
        "plan", "active", "batch", "storage", "daily bytes", "rows", "days", "formats", "watermark"
    )
    for p in plans:
        table.add_row(
            p.name,
            str(p.max_active_jobs),
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
    formats: Annotated[str | None, typer.Option(help="Comma-separated formats.")] = None,
    watermark: Annotated[bool | None, typer.Option("--watermark/--no-watermark")] = None,
) -> None:
    """Change a plan's limits (a new plan starts from the free plan's)."""
    import dataclasses

    from exportd.exports.plans import plan_for, save_plan

    db = _existing_database(_settings())
    with db.write() as conn:
        try:
            base = plan_for(conn, name)
        except ExportdError:
            base = dataclasses.replace(plan_for(conn, "free"), name=name)
        changes: dict[str, Any] = {
            key: value
            for key, value in {
                "max_active_jobs": max_active_jobs,
                "max_batch_size": max_batch_size,
                "storage_quota_bytes": storage_quota_bytes,
                "daily_export_bytes": daily_export_bytes,
                "max_rows": max_rows,
                "retention_days": retention_days,
                "formats_allowed": tuple(f.strip() for f in formats.split(",") if f.strip())
                if formats is not None
                else None,
                "watermark": watermark,
            }.items()
            if value is not None
        }
        _or_exit(lambda: save_plan(conn, dataclasses.replace(base, **changes)))
    out.print(f"plan {name} saved")


@connections_app.command("check")
def connections_check() -> None:
    """Connect to each named data connection and say whether it answers (exit 1 if one
    does not)."""
    from exportd.sources.connections import DataConnections

    settings = _settings()
    _check_sources(settings)
    connections = DataConnections(settings.connections)
    try:
        results = connections.check_all()
    finally:
        connections.dispose()
    if not results:
        out.print("no connections configured ([connections.NAME] or EXPORTD_CONNECTIONS)")
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


def main() -> None:
    from exportd import cli_client, cli_destinations, cli_verify

    cli_client.register(app)
    cli_verify.register(app, _settings)
    cli_destinations.register(app)
    app()
