"""The command line: ``exportd serve | worker | migrate | demo | cleanup | token``; the
operator's commands are in ``cli_operator``, the user's in ``cli_client``.

Settings are read here, at the edge, and passed to everything else.  A bad setting
ends the command with a message naming it and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from typing import Annotated

import typer

from exportd import cli_operator, cli_queues, cli_schedules
from exportd.cli_common import (
    check_sources,
    err,
    existing_database,
    out,
    settings_or_exit,
)
from exportd.config import Settings
from exportd.db import create_database
from exportd.errors import ConfigError
from exportd.private import private_umask
from exportd.queue import JobStore

# exportd.app_wiring.FACTORY, named before that module (the whole worker) is imported.
WORKER_FACTORY = "exportd.app_wiring:worker_app"

app = typer.Typer(no_args_is_help=True, help="exportd: asynchronous exports as a service.")
app.add_typer(cli_schedules.app, name="schedules")
app.add_typer(cli_queues.app, name="queues")
cli_operator.register(app)


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
    owner = os.getpid()  # not a forked child that runs the exit handlers it inherited

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
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

    settings = settings_or_exit()
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
    from rich.markup import escape

    from exportd.auth.claims import principal_of
    from exportd.auth.tokens import mint
    from exportd.config import hs256_key
    from exportd.errors import ExportdError

    try:  # what the server would refuse is not minted
        principal_of({"sub": user, "plan": plan, "email": email, "admin": admin})
    except ExportdError as exc:
        err.print(f"[red]exportd: {escape(str(exc))} ({exc.code})[/red]")
        raise typer.Exit(2) from None
    key = hs256_key(settings_or_exit())
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
    settings = settings_or_exit()
    from exportd.worker.children import start_fork_server

    # Before the checks: they open connections and may start a tracer's thread.
    fork_server = start_fork_server(WORKER_FACTORY)
    _check_services(settings)
    check_sources(settings)
    from exportd.app_wiring import worker_app
    from exportd.ops.metrics import serve_worker_metrics
    from exportd.worker.supervisor import Supervisor

    modules = [*settings.task_modules, *(imports or [])]
    try:
        app = worker_app(modules)
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None
    db = create_database(settings)
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
        fork_server=fork_server,
    )
    supervisor.run()
    db.dispose()  # closed here: the process exits without a last collection (__main__)
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
    settings = settings_or_exit()
    _check_services(settings)
    check_sources(settings)
    _run_api(host=host, port=port, workers=workers, settings=settings)


def _run_api(*, host: str, port: int, workers: int, settings: Settings) -> None:
    from exportd.api import server

    interrupted = server.run(host=host, port=port, workers=workers, log_level=settings.log_level)
    if interrupted:
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
    settings = _with_demo_sources(settings_or_exit())
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

    settings = settings_or_exit()
    job = Cleanup(
        db=existing_database(settings),
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


@cache
def command_line() -> typer.Typer:
    """The whole command tree ``exportd`` runs: the user's commands (client, verify,
    destinations) joined to the operator's once, on first use (tests run it in-process)."""
    from exportd import cli_client, cli_destinations, cli_verify

    cli_client.register(app)
    cli_verify.register(app, settings_or_exit)
    cli_destinations.register(app)
    return app


def main() -> None:
    command_line()()
