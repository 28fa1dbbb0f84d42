"""Chaos: three workers on PostgreSQL storing into S3, mixed exports (CSV, XLSX, Parquet,
JSON Lines, resume PDFs; some with email and webhook).  From the first request until
10 s after the last, a random worker is SIGKILLed every 2 seconds (once some export
finished since the previous kill) and replaced; the workers retry with a short backoff;
S3 is unreachable for a window once a tenth of the exports are done; PostgreSQL (a server
of the test's own, so the rest of the suite runs beside it) restarts once a third are; the SMTP
server is down until the exports are done.  Afterwards: every export is final; each
completed one has exactly one stored object whose size and sha256 match its row; no
orphan survives cleanup; no worker exited on its own; every email and webhook was
delivered or dead-lettered, and the dead letters deliver after a requeue.  The run
prints its figures.

A bounded run is part of `make test` (CHAOS_EXPORTS=80); `make chaos` runs 1,000.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from exportd.auth.principal import Principal
from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from exportd.db.tables import deliveries, export_events, exports, plan_limits
from exportd.delivery.service import DeliveryService
from exportd.demo.resumes import RESUMES
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.documents.service import DocumentService
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.ops.cleanup import Cleanup
from exportd.ops.events import EventKind
from exportd.queue import JobState, JobStore
from exportd.sources.loading import load_sources
from exportd.storage import open_storage
from tests.support.databases import require_postgres
from tests.support.faults import TcpProxy
from tests.support.hooks import Receiver
from tests.support.mail import SmtpServer
from tests.support.private_pg import PrivatePostgres, pg_bin, private_postgres
from tests.support.workers import Harness

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EXPORTS = int(os.environ.get("CHAOS_EXPORTS", "80"))
USERS = [f"user{i}" for i in range(6)]
KILL_EVERY_S = 2.0
S3_DOWN_S = 8.0
CHAOS_TAIL_S = 10.0
FORMATS = ["csv", "xlsx", "parquet", "jsonl", "pdf"]


@pytest.fixture
def server() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own: its restart hurts no other test, so the
    chaos run goes beside the rest of the suite."""
    if pg_bin() is None:
        require_postgres()  # fails in CI, skips elsewhere, when there is no server at all
        pytest.skip("no PostgreSQL server binaries to run a private server with")
    with private_postgres() as running:
        yield running


@pytest.fixture
def harness(server: PrivatePostgres, tmp_path: Path) -> Iterator[Harness]:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE exportd_chaos")
    url = server.url("exportd_chaos")
    db = create_database(load_settings(database_url=url), pool=False)
    upgrade(db)
    db.dispose()
    chaos = Harness(url, tmp_path)
    yield chaos
    chaos.close()


def _seed(harness: Harness, smtp_url: str) -> ExportService:
    with harness.db.write() as conn:
        create_demo_tables(conn)
        for user in USERS:
            seed_trades(conn, user, 400)
        # The chaos is in the machines, not in the plan: no limit should refuse a request.
        conn.execute(update(plan_limits).values(max_active_jobs=100_000))
    documents = DocumentService(db=harness.db, store=harness.store, max_sections=20)
    for user in USERS:
        documents.create(Principal(user, "pro"), title="CV", content=RESUMES["alice"])
    # Configured as the workers are: with no SMTP server, email would be refused, and a
    # job's attempts are fixed when it is queued, so the producer must allow the 8.
    settings = harness.settings.model_copy(
        update={"webhook_allow_private": True, "job_attempts": 8, "smtp_url": SecretStr(smtp_url)}
    )
    return ExportService(
        db=harness.db,
        store=JobStore.from_settings(settings),
        sources=load_sources(["exportd.demo.sources:demo_sources"], []),
        settings=settings,
    )


def _request(rng: random.Random, user: str, hook: str) -> ExportRequest:
    fmt = rng.choice(FORMATS)
    notify: dict[str, str] = {}
    if rng.random() < 0.2:
        notify["email"] = f"{user}@example.com"
    if rng.random() < 0.2:
        notify["webhook_url"] = hook
    if fmt == "pdf":
        return ExportRequest(
            source="resume", format="pdf", params={}, template="classic", notify=notify or None
        )
    return ExportRequest(
        source="trades", format=fmt, params={"limit": rng.randrange(1, 400)}, notify=notify or None
    )


class Killer(threading.Thread):
    """SIGKILLs a random worker's whole process group every few seconds and starts a new
    worker in its place; notes any worker that exited on its own (none should)."""

    def __init__(self, harness: Harness, env: dict[str, str], pool: int) -> None:
        super().__init__(daemon=True)
        self.harness = harness
        self.env = env
        self.pool = pool
        self.stop = threading.Event()
        self.calm = threading.Event()  # set: no more kills, dead workers still replaced
        self.kills = 0
        self.killed: set[int] = set()
        self.rng = random.Random(11)

    def run(self) -> None:
        finished_at_last_kill = -1
        while not self.stop.wait(KILL_EVERY_S):
            alive = [w for w in self.harness.workers if w.process.poll() is None]
            finished = self._finished()
            # A kill waits for progress since the last one: on a slow (loaded) machine a
            # fixed kill rate alone would spend every job's attempts on lease rescues.
            if alive and not self.calm.is_set() and finished != finished_at_last_kill:
                finished_at_last_kill = finished
                victim = self.rng.choice(alive)
                self.killed.add(victim.pid)
                victim.signal(signal.SIGKILL, group=True)
                victim.process.wait()
                self.kills += 1
                alive.remove(victim)
            for _ in range(self.pool - len(alive)):  # as an orchestrator restarts them
                self.harness.start_worker(**self.env)

    def _finished(self) -> int:
        """Exports finished so far (-1 while the database is away)."""
        try:
            with self.harness.db.read() as conn:
                return int(
                    conn.execute(
                        select(func.count()).where(exports.c.status.in_(("completed", "failed")))
                    ).scalar_one()
                )
        except SQLAlchemyError:
            return -1

    def exited_on_their_own(self) -> list[str]:
        return [
            f"worker {w.pid} exited {w.process.returncode}: {w.log_path.read_text()[-500:]}"
            for w in self.harness.workers
            if w.process.poll() is not None and w.pid not in self.killed
        ]


class Outages(threading.Thread):
    """S3 goes away for a window once a tenth of the exports are done (so uploads are
    under way); PostgreSQL restarts once a third are."""

    def __init__(
        self, harness: Harness, proxy: TcpProxy, server: PrivatePostgres, total: int
    ) -> None:
        super().__init__(daemon=True)
        self.harness = harness
        self.server = server
        self.proxy = proxy
        self.total = total
        self.done: list[str] = []
        self.halt = threading.Event()  # the test is over: stop waiting

    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # the test names it instead of a silent dead thread
            self.done.append(f"outage thread failed: {error!r}")
            raise

    def _run(self) -> None:
        if not self._until_completed(self.total // 10):
            return
        self.proxy.down()
        time.sleep(S3_DOWN_S)
        self.proxy.up()
        self.done.append(f"S3 unreachable for {S3_DOWN_S:.0f} s")
        if self._until_completed(self.total // 3):
            self.done.append(self.server.restart())

    def _until_completed(self, count: int) -> bool:
        """Wait for ``count`` completed exports; False if the test ended first."""
        while not self.halt.is_set():
            with self.harness.db.read() as conn:
                completed = conn.execute(
                    select(func.count()).where(exports.c.status == "completed")
                ).scalar_one()
            if completed >= count:
                return True
            time.sleep(0.2)
        return False


def _with_retries(action: Any, timeout: float = 60) -> Any:
    """What a client does while the database restarts: try again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except SQLAlchemyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _all_final(harness: Harness, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:

        def read() -> Counter[str]:
            with harness.db.read() as conn:
                rows = conn.execute(select(exports.c.id, exports.c.job_id)).all()
                return Counter(harness.store.get(conn, row.job_id).state.value for row in rows)

        states = _with_retries(read)
        if all(JobState(state).is_final for state in states):
            return dict(states)
        if time.monotonic() > deadline:
            with harness.db.read() as conn:
                stuck = [
                    job
                    for (job_id,) in conn.execute(select(exports.c.job_id))
                    if not (job := harness.store.get(conn, job_id)).state.is_final
                ]
            raise AssertionError(f"not final in time: {dict(states)}; {stuck}")
        time.sleep(0.5)


def _failures(harness: Harness) -> str:
    """Why the failed exports failed: their last error codes and attempts, counted."""
    with harness.db.read() as conn:
        jobs = [
            harness.store.get(conn, job_id) for (job_id,) in conn.execute(select(exports.c.job_id))
        ]
    failed = [job for job in jobs if job.state is JobState.FAILED]
    causes = Counter(
        f"{(job.error or {}).get('code')} after {job.attempts_used}/{job.max_attempts}"
        for job in failed
    )
    return f"{len(failed)} failed: {dict(causes)}"


def _deliveries_final(harness: Harness, timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        with harness.db.read() as conn:
            states = Counter(row.status for row in conn.execute(select(deliveries.c.status)))
        if set(states) <= {"sent", "failed"}:
            return states
        assert time.monotonic() < deadline, f"deliveries not final in time: {dict(states)}"
        time.sleep(0.5)


def test_nothing_is_lost_when_workers_die_and_services_fail(
    server: PrivatePostgres, harness: Harness, s3_endpoint: str, s3_url: str
) -> None:
    host, port = s3_endpoint.removeprefix("http://").split(":")
    proxy = TcpProxy(host, int(port))  # the workers reach S3 only through it
    smtp = SmtpServer()  # down at first: its window of unavailability
    hook = Receiver()
    env = {
        "storage_url": s3_url,
        "s3_endpoint_url": proxy.url,
        "source_modules": '["exportd.demo.sources:demo_sources"]',
        "smtp_url": smtp.url,
        "webhook_allow_private": "true",
        "job_attempts": "8",
        # As in production, a retry backs off (here from 0.25 s, doubling), so an outage
        # shorter than the backoff series cannot spend all of a job's attempts.
        "job_backoff_ms": "250",
        "delivery_attempts": "3",
        "delivery_retry_cooldown_s": "0",
    }
    service = _seed(harness, smtp.url)
    for _ in range(3):
        harness.start_worker(**env)
    killer = Killer(harness, env, pool=3)
    killer.start()
    outages = Outages(harness, proxy, server, total=EXPORTS)
    outages.start()
    rng = random.Random(7)
    created = []
    try:
        for n in range(EXPORTS):
            user = USERS[n % len(USERS)]
            principal = Principal(user, "pro", email=f"{user}@example.com")
            request = _request(rng, user, hook.url)
            # Retried through the restart under one key: one export whatever happened.
            view, _ = _with_retries(
                lambda p=principal, r=request, k=f"chaos-{n}": service.create(
                    p, r, idempotency_key=k
                )
            )
            created.append(view.id)
            time.sleep(0.05)
        outages.join(timeout=60 + EXPORTS * 0.5)
        time.sleep(CHAOS_TAIL_S)  # the killing goes on a while after the last request...
        killer.calm.set()  # ...then the survivors drain the queue
        states = _all_final(harness, timeout=60 + EXPORTS * 0.5)
    finally:
        killer.stop.set()
        killer.join()
        outages.halt.set()
        proxy.up()
    # Mail was down all along: emails end in the dead letter, webhooks are sent.
    first = _with_retries(lambda: _deliveries_final(harness, timeout=120))
    smtp.start()
    admin = Principal("ops", "pro", is_admin=True)
    deliveries_service = DeliveryService(
        db=harness.db, store=harness.store, attempts=3, retry_cooldown_s=0
    )
    for dead in deliveries_service.failed(admin, limit=10_000):
        deliveries_service.retry(admin, dead.id)
    after = _deliveries_final(harness, timeout=120)

    storage = open_storage(s3_url, s3_endpoint_url=s3_endpoint)  # straight, not the proxy
    with harness.db.read() as conn:
        rows = conn.execute(select(exports).where(exports.c.id.in_(created))).all()
        retried = Counter(
            code
            for (code,) in conn.execute(
                select(export_events.c.code).where(export_events.c.kind == EventKind.RETRIED.value)
            )
        )
    completed = [row for row in rows if row.result is not None]
    for row in completed:
        data = b"".join(storage.read(row.result["key"]))
        assert len(data) == row.result["size"], row.id
        assert hashlib.sha256(data).hexdigest() == row.result["sha256"], row.id
    report = Cleanup(db=harness.db, storage=storage, batch_size=10_000, orphan_grace_s=0).run(
        dry_run=False
    )
    # Exactly one file per completed export, and nothing else: a killed attempt's file
    # was either deleted by its supervisor or removed by cleanup as an orphan.
    left = sorted(storage.keys(older_than_s=-3600))
    assert left == sorted(row.result["key"] for row in completed)

    print(
        f"\nchaos: {len(created)} exports, {killer.kills} workers SIGKILLed; "
        f"{'; '.join(outages.done)}; attempts retried by cause {dict(retried)}; jobs {states}; "
        f"{len(completed)} files checked (size + sha256); {len(report.orphans)} orphans "
        f"removed; deliveries {dict(first)} -> after requeue {dict(after)}; "
        f"{len(smtp.inbox.messages)} emails, {len(hook.received)} webhooks received"
    )
    assert len(rows) == len(created)  # every request became an export, none vanished
    assert killer.kills >= 2
    # A worker started while PostgreSQL restarted waits for it instead of exiting.
    assert killer.exited_on_their_own() == []
    # S3 went away and PostgreSQL restarted, mid-run.
    assert len(outages.done) == 2, outages.done
    assert "failed" not in outages.done[-1], outages.done
    assert states.get("completed", 0) >= len(created) * 0.9, _failures(harness)
    assert first["failed"] > 0  # the down window did kill some deliveries...
    assert set(after) == {"sent"}, after  # ...and every one of them arrived after requeue
    smtp.stop()
    hook.close()
    proxy.close()
