"""A real worker's /metrics (supervisor and children summed through the multiprocess
directory) agrees with the event log."""

from __future__ import annotations

import dataclasses
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from exportd.auth.principal import Principal
from exportd.db.tables import export_events, exports
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.exports.models import ExportRequest
from exportd.exports.plans import plan_for, save_plan
from exportd.exports.service import ExportService
from exportd.sources import SourceRegistry
from tests.support.mail import free_port
from tests.support.workers import Harness

pytestmark = pytest.mark.slow
WORKER_KINDS = ("started", "completed", "failed")


def scrape(port: int) -> dict[str, float]:
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as answer:
                text = answer.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    totals = dict.fromkeys(WORKER_KINDS, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "exportd_events_total" and sample.labels["kind"] in totals:
                totals[sample.labels["kind"]] += sample.value
            if sample.name == "exportd_job_run_seconds_count":
                totals.setdefault("runs", 0.0)
                totals["runs"] += sample.value
    return totals


def test_worker_metrics_agree_with_the_event_log(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, tmp_path)
    with harness.db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 100)
        save_plan(conn, dataclasses.replace(plan_for(conn, "pro"), name="tiny", max_rows=10))
    port = free_port()
    harness.start_worker(
        source_modules='["exportd.demo.sources:demo_sources"]',
        storage_url=f"file://{tmp_path / 'exports'}",
        worker_metrics_port=str(port),
    )
    service = ExportService(
        db=harness.db,
        store=harness.store,
        sources=SourceRegistry(demo_sources()),
        settings=harness.settings,
    )
    try:
        ids = [
            service.create(
                Principal("bob", plan), ExportRequest(source="trades", format="csv", params={})
            )[0].id
            for plan in ("pro", "pro", "tiny")
        ]
        with harness.db.read() as conn:
            jobs = conn.execute(select(exports.c.job_id).where(exports.c.id.in_(ids))).scalars()
            job_ids = list(jobs)
        for job_id in job_ids:
            harness.wait_for(int(job_id), lambda job: job.state.is_final, timeout=60)
        time.sleep(0.3)  # the settle transaction has committed; counters follow it
        seen = scrape(port)
        with harness.db.read() as conn:
            kinds = conn.execute(select(export_events.c.kind)).scalars().all()
        assert {k: seen[k] for k in WORKER_KINDS} == {
            k: float(kinds.count(k)) for k in WORKER_KINDS
        }
        assert (seen["completed"], seen["failed"]) == (2.0, 1.0)
        assert seen["runs"] == 3.0
    finally:
        harness.close()
