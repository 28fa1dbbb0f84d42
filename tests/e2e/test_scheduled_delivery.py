"""Issue 28 end to end, in real time: through the HTTP API (the real app) a user makes an
S3 destination (the customer's moto server), an SFTP destination (a real SSH server) and
a schedule every few seconds whose export is split into gzipped parts.  A real
``exportd worker`` runs it; the worker is killed (SIGKILL, its whole process group) and
a new one started.  Each due time is run once (the outage's as one catch-up run), each
run's whole set lands at both destinations, and the sets fetched back from the bucket and
the SFTP server pass ``exportd verify`` (the command line's app, in this process) — until
one byte is changed (the real command, in a process of its own).  On SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from exportd.api.app import create_app
from exportd.db.tables import schedule_runs
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.exports.plans import plan_for, save_plan
from exportd.sources import SourceRegistry
from tests.support.api import Api
from tests.support.command_line import invoke
from tests.support.customer_s3 import CustomerS3
from tests.support.sftp import PASSWORD, SftpServer
from tests.support.workers import ROOT, Harness, WorkerProcess

pytestmark = pytest.mark.slow

EVERY_S = 2
ROWS = 250
SECRET = "scheduled-delivery-" + "s" * 40
SPLIT = {"split": {"rows": 100, "deliver": "parts"}, "compression": "gzip"}  # 3 parts
# What the app and the worker share: the split's floor, the signing key, loopback hosts.
SHARED = {
    "split_min_rows": "100",
    "secret_key": SECRET,
    "destination_allow_private": "true",
    "schedule_min_interval_s": "1",
}


@dataclass
class World:
    harness: Harness
    api: Api
    env: dict[str, str]

    @property
    def bob(self) -> dict[str, str]:
        return self.api.as_user("bob", plan="fast")

    def call(self, method: str, path: str, status: int, **kw: Any) -> Any:
        answer = self.api.client.request(method, path, headers=self.bob, **kw)
        assert answer.status_code == status, answer.text
        return answer.json() if answer.content else None

    def start_worker(self) -> WorkerProcess:
        return self.harness.start_worker(concurrency=2, **self.env)

    def runs(self) -> list[Any]:
        with self.harness.db.read() as conn:
            return list(conn.execute(select(schedule_runs).order_by(schedule_runs.c.due_at)))

    def exports(self, schedule_id: str) -> list[dict[str, Any]]:
        page = self.call("GET", "/v1/exports", 200, params={"schedule_id": schedule_id})
        return list(page["items"])

    def wait(self, what: str, done: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.1)
        logs = "\n".join(w.log_path.read_text()[-4000:] for w in self.harness.workers)
        raise AssertionError(f"never: {what}; runs {self.runs()}\n{logs}")


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    harness = Harness(database_url, tmp_path)
    with harness.db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", ROWS)
        # The plan's floor between runs is an hour by default: this one allows a second.
        save_plan(
            conn,
            replace(
                plan_for(conn, "pro"), name="fast", min_schedule_interval_s=1, max_active_jobs=50
            ),
        )
    storage_url = f"file://{tmp_path / 'exports'}"
    env = {
        **SHARED,
        "storage_url": storage_url,
        "source_modules": '["exportd.demo.sources:demo_sources"]',
        "schedule_tick_s": "0.2",
        "destination_timeout_s": "10",
    }
    settings = harness.settings.model_copy(
        update={
            "storage_url": storage_url,
            "secret_key": SecretStr(SECRET),
            "split_min_rows": 100,
            "destination_allow_private": True,
            "schedule_min_interval_s": 1,
        }
    )
    app = create_app(settings, db=harness.db, sources=SourceRegistry(demo_sources()))
    try:
        with TestClient(app) as client:
            yield World(harness, Api(client, settings), env)
    finally:
        harness.close()


def _delivered(export: dict[str, Any]) -> bool:
    return export["status"] == "completed" and all(
        d["status"] == "sent" for d in export["destinations"]
    )


def _settled(export: dict[str, Any]) -> bool:
    return export["status"] not in ("queued", "running") and all(
        d["status"] != "pending" for d in export["destinations"]
    )


def test_a_schedule_delivers_verifiable_split_sets_across_a_worker_crash(
    world: World, customer_s3: CustomerS3, sftp_server: SftpServer, tmp_path: Path
) -> None:
    bucket = customer_s3.new_bucket()
    to_s3 = world.call(
        "POST",
        "/v1/destinations",
        201,
        json={
            "kind": "s3",
            "name": "bucket",
            "config": customer_s3.config(bucket),  # the default key template
            "secret": customer_s3.secret(),
        },
    )["id"]
    to_sftp = world.call(
        "POST",
        "/v1/destinations",
        201,
        json={
            "kind": "sftp",
            "name": "server",
            "config": sftp_server.config(directory="inbox", key_template="{export_id}/{filename}"),
            "secret": {"password": PASSWORD},
        },
    )["id"]
    export = {
        "source": "trades",
        "format": "csv",
        "params": {},
        "options": SPLIT,
        "destinations": [to_s3, to_sftp],
    }
    schedule = world.call(
        "POST", "/v1/schedules", 201, json={"export": export, "every": f"{EVERY_S}s"}
    )
    created_at = datetime.fromisoformat(schedule["created_at"])

    first = world.start_worker()
    world.wait(
        "a run delivered to both",
        lambda: any(_delivered(e) for e in world.exports(schedule["id"])),
    )
    first.signal(signal.SIGKILL, group=True)  # a crash: no goodbye, leases left held
    first.process.wait(10)
    before = len(world.runs())
    time.sleep(2 * EVERY_S + 0.5)  # two due times or more pass with no worker up
    world.start_worker()
    # The catch-up run, and then one on time, both by the new worker.
    world.wait("two runs after the restart", lambda: len(world.runs()) >= before + 2)
    world.call("PATCH", f"/v1/schedules/{schedule['id']}", 200, json={"active": False})
    world.wait(
        "every run settled at both destinations",
        lambda: all(_settled(e) for e in world.exports(schedule["id"])),
    )

    runs = world.runs()
    due = [r.due_at for r in runs]
    assert len(due) == len(set(due)), runs  # no due time twice
    step = timedelta(seconds=EVERY_S)
    assert all(
        (d.replace(tzinfo=None) - created_at.replace(tzinfo=None)) % step == timedelta(0)
        for d in due
    ), due
    # Every due time from the first run to the last was run, or counted missed, once.
    grid = (due[-1] - due[0]) // step + 1
    assert sum(1 + int(r.missed) for r in runs[1:]) + 1 == grid, runs
    # The outage's catch-up run: one run for the due times passed over, counted missed.
    assert int(runs[before].missed) >= 1, runs
    made = world.exports(schedule["id"])
    assert sorted(e["id"] for e in made) == sorted(r.export_id for r in runs)
    for export_made in made:
        assert _delivered(export_made), export_made
        assert {d["files"] for d in export_made["destinations"]} == {5}  # 3 parts, 2 more

    # Each set fetched back from the bucket and from the server, and checked offline.
    keys = tmp_path / "keys.json"
    keys.write_text(world.api.client.get("/.well-known/exportd-manifest-keys").text)
    in_bucket = customer_s3.objects(bucket)
    on_server = sftp_server.files()
    assert len(in_bucket) == len(on_server) == 5 * len(made)  # nothing twice, no temp file
    for export_made in made:
        shown = {d["id"]: d["remote_key"] for d in export_made["destinations"]}
        for where, files, manifest_key in (
            ("s3", in_bucket, shown[to_s3]),
            ("sftp", on_server, f"inbox/{export_made['id']}/{shown[to_sftp].rsplit('/', 1)[1]}"),
        ):
            folder = _fetched(files, manifest_key, tmp_path / where / export_made["id"])
            manifest = folder / manifest_key.rsplit("/", 1)[1]
            checked = invoke(["verify", str(manifest), "--key", str(keys)])
            assert checked.exit_code == 0, checked.output
            assert f"verified: 3 parts, {ROWS} rows" in checked.stdout

    # One byte changed in one part: the command names the part and fails.
    folder = tmp_path / "sftp" / made[0]["id"]
    part = sorted(folder.glob("*-part0002.csv.gz"))[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))
    manifest = next(folder.glob("*.manifest.json"))
    tampered = _verify_in_a_process(manifest, keys)
    assert tampered.returncode == 1, tampered.stdout
    assert f"{part.name}: ALTERED: its SHA-256 is not the manifest's" in tampered.stdout
    assert "NOT verified: 1 problem" in tampered.stdout


def _fetched(files: dict[str, bytes], manifest_key: str, folder: Path) -> Path:
    """The files beside the manifest at the destination, saved in a folder of their own."""
    prefix = manifest_key.rsplit("/", 1)[0] + "/"
    folder.mkdir(parents=True)
    for key, data in files.items():
        if key.startswith(prefix):
            (folder / key.removeprefix(prefix)).write_bytes(data)
    assert len(list(folder.iterdir())) == 5, sorted(files)
    return folder


def _verify_in_a_process(manifest: Path, keys: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "exportd", "verify", str(manifest), "--key", str(keys)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
