"""Chaos: three workers on PostgreSQL, mixed exports (CSV, XLSX, Parquet, JSON Lines,
resume PDFs; some with email and webhook), a random worker SIGKILLed every 2 seconds
and restarted, the SMTP server down until the exports are done.  Afterwards: every export is final;
each completed one has exactly one stored file whose size and sha256 match its row; no
orphan file survives cleanup; every email and webhook was delivered or dead-lettered,
and the dead letters deliver after a requeue.  The run prints its figures.

A bounded run is part of `make test` (CHAOS_EXPORTS=120); `make chaos` runs 1,000.
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

import pytest
from sqlalchemy import select, update

from exportd.auth.principal import Principal
from exportd.db.tables import deliveries, exports, plan_limits
from exportd.delivery.service import DeliveryService
from exportd.demo.resumes import RESUMES
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.documents.service import DocumentService
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.ops.cleanup import Cleanup
from exportd.queue import JobState
from exportd.sources.loading import load_sources
from exportd.storage.local import LocalStorage
from tests.support.databases import fresh_pg_database, require_postgres
from tests.support.hooks import Receiver
from tests.support.mail import SmtpServer
from tests.support.workers import Harness

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EXPORTS = int(os.environ.get("CHAOS_EXPORTS", "120"))
USERS = [f"user{i}" for i in range(6)]
KILL_EVERY_S = 2.0
FORMATS = ["csv", "xlsx", "parquet", "jsonl", "pdf"]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    require_postgres()
    with fresh_pg_database() as url:
        chaos = Harness(url, tmp_path)
        yield chaos
        chaos.close()


def _seed(harness: Harness) -> ExportService:
    with harness.db.write() as conn:
        create_demo_tables(conn)
        for user in USERS:
            seed_trades(conn, user, 400)
        # The chaos is in the machines, not in the plan: no limit should refuse a request.
        conn.execute(update(plan_limits).values(max_active_jobs=100_000))
    documents = DocumentService(db=harness.db, store=harness.store, max_sections=20)
    for user in USERS:
        documents.create(Principal(user, "pro"), title="CV", content=RESUMES["alice"])
    return ExportService(
        db=harness.db,
        store=harness.store,
        sources=load_sources(["exportd.demo.sources:demo_sources"], []),
        settings=harness.settings.model_copy(
            update={"webhook_allow_private": True, "job_attempts": 8}
        ),
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
    """SIGKILLs a random worker's whole process group every few seconds, and starts a new
    worker in its place."""

    def __init__(self, harness: Harness, env: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.harness = harness
        self.env = env
        self.stop = threading.Event()
        self.kills = 0
        self.rng = random.Random(11)

    def run(self) -> None:
        while not self.stop.wait(KILL_EVERY_S):
            alive = [w for w in self.harness.workers if w.process.poll() is None]
            if not alive:
                continue
            victim = self.rng.choice(alive)
            victim.signal(signal.SIGKILL, group=True)
            victim.process.wait()
            self.kills += 1
            self.harness.start_worker(**self.env)


def _all_final(harness: Harness, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        with harness.db.read() as conn:
            rows = conn.execute(select(exports.c.id, exports.c.job_id)).all()
            states = Counter(harness.store.get(conn, row.job_id).state.value for row in rows)
        if all(JobState(state).is_final for state in states):
            return dict(states)
        assert time.monotonic() < deadline, f"not final in time: {dict(states)}"
        time.sleep(0.5)


def _deliveries_final(harness: Harness, timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    while True:
        with harness.db.read() as conn:
            states = Counter(row.status for row in conn.execute(select(deliveries.c.status)))
        if set(states) <= {"sent", "failed"}:
            return states
        assert time.monotonic() < deadline, f"deliveries not final in time: {dict(states)}"
        time.sleep(0.5)


def test_nothing_is_lost_when_workers_die_and_mail_is_down(
    harness: Harness, tmp_path: Path
) -> None:
    files = tmp_path / "exports"
    smtp = SmtpServer()  # down at first: its window of unavailability
    hook = Receiver()
    env = {
        "storage_url": f"file://{files}",
        "source_modules": '["exportd.demo.sources:demo_sources"]',
        "smtp_url": smtp.url,
        "webhook_allow_private": "true",
        "job_attempts": "8",
        "delivery_attempts": "3",
        "delivery_retry_cooldown_s": "0",
    }
    service = _seed(harness)
    for _ in range(3):
        harness.start_worker(**env)
    killer = Killer(harness, env)
    killer.start()
    rng = random.Random(7)
    created = []
    try:
        for n in range(EXPORTS):
            user = USERS[n % len(USERS)]
            principal = Principal(user, "pro", email=f"{user}@example.com")
            view, _ = service.create(principal, _request(rng, user, hook.url))
            created.append(view.id)
            time.sleep(0.02)
        states = _all_final(harness, timeout=60 + EXPORTS * 0.5)
    finally:
        killer.stop.set()
        killer.join()
    # Mail was down all along: emails end in the dead letter, webhooks are sent.
    first = _deliveries_final(harness, timeout=120)
    smtp.start()
    admin = Principal("ops", "pro", is_admin=True)
    deliveries_service = DeliveryService(
        db=harness.db, store=harness.store, attempts=3, retry_cooldown_s=0
    )
    for dead in deliveries_service.failed(admin, limit=10_000):
        deliveries_service.retry(admin, dead.id)
    after = _deliveries_final(harness, timeout=120)

    storage = LocalStorage(files)
    with harness.db.read() as conn:
        rows = conn.execute(select(exports).where(exports.c.id.in_(created))).all()
    completed = [row for row in rows if row.result is not None]
    for row in completed:
        data = (files / row.result["key"]).read_bytes()
        assert len(data) == row.result["size"], row.id
        assert hashlib.sha256(data).hexdigest() == row.result["sha256"], row.id
    report = Cleanup(db=harness.db, storage=storage, batch_size=10_000, orphan_grace_s=0).run(
        dry_run=False
    )
    # Exactly one file per completed export, and nothing else: a killed attempt's file
    # was either deleted by its supervisor or removed by cleanup as an orphan.
    left = sorted(p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file())
    assert left == sorted(row.result["key"] for row in completed)

    print(
        f"\nchaos: {len(created)} exports, {killer.kills} workers SIGKILLed; jobs {states}; "
        f"{len(completed)} files checked (size + sha256); {len(report.orphans)} orphans "
        f"removed; deliveries {dict(first)} -> after requeue {dict(after)}; "
        f"{len(smtp.inbox.messages)} emails, {len(hook.received)} webhooks received"
    )
    assert len(rows) == len(created)  # every request became an export, none vanished
    assert killer.kills >= 2
    assert states.get("completed", 0) >= len(created) * 0.9
    assert first["failed"] > 0  # the down window did kill some deliveries...
    assert set(after) == {"sent"}, after  # ...and every one of them arrived after requeue
    smtp.stop()
    hook.close()
