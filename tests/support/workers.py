"""Run real ``exportd worker`` processes against a test database, and wait on jobs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exportd.config import load_settings
from exportd.db import Database, create_database
from exportd.queue import Job, JobStore, NewJob

ROOT = Path(__file__).resolve().parents[2]

# Short leases and intervals so crash tests finish in seconds.
FAST = {
    "EXPORTD_JOB_LEASE_S": "1.5",
    "EXPORTD_REAPER_INTERVAL_S": "0.3",
    "EXPORTD_POLL_INTERVAL_S": "0.3",
    "EXPORTD_JOB_BACKOFF_MS": "0",
    "EXPORTD_LOG_FORMAT": "json",
}


class WorkerProcess:
    def __init__(self, database_url: str, log_path: Path, concurrency: int, env: dict[str, str]):
        self.log_path = log_path
        environment = {
            **os.environ,
            **FAST,
            **env,
            "EXPORTD_DATABASE_URL": database_url,
            # The tree under test first, then what the caller had (a worktree's src/
            # would otherwise lose to the installed package).
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exportd",
                "worker",
                "--concurrency",
                str(concurrency),
                "--import",
                "tests.support.tasks",
            ],
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a test can signal all of it
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int, *, group: bool = False) -> None:
        if group:
            os.killpg(self.process.pid, signum)
        else:
            os.kill(self.process.pid, signum)

    def events(self) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for_event(self, name: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events():
                if event["event"] == name:
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no {name!r} in the worker's log:\n{self.log_path.read_text()}")

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


class Harness:
    """A database, a store and the workers started against it."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.url = database_url
        self.tmp_path = tmp_path
        self.settings = load_settings(database_url=database_url)
        self.db: Database = create_database(self.settings)
        self.store = JobStore.from_settings(self.settings)
        self.workers: list[WorkerProcess] = []
        self.notes = tmp_path / "notes.log"

    def start_worker(self, concurrency: int = 2, **env: str) -> WorkerProcess:
        log = self.tmp_path / f"worker-{len(self.workers)}.log"
        overrides = {f"EXPORTD_{k.upper()}": v for k, v in env.items()}
        worker = WorkerProcess(self.url, log, concurrency, overrides)
        self.workers.append(worker)
        return worker

    def enqueue(self, task: str, **kwargs: Any) -> int:
        payload = kwargs.pop("payload", {})
        payload.setdefault("log", str(self.notes))
        with self.db.write() as conn:
            return self.store.enqueue(conn, NewJob(task=task, payload=payload, **kwargs)).job.id

    def enqueue_many(self, task: str, count: int, **payload: Any) -> list[int]:
        payload.setdefault("log", str(self.notes))
        with self.db.write() as conn:
            return self.store.enqueue_many(
                conn, [NewJob(task=task, payload=payload) for _ in range(count)]
            )

    def job(self, job_id: int) -> Job:
        with self.db.read() as conn:
            return self.store.get(conn, job_id)

    def wait_for(self, job_id: int, done: Callable[[Job], bool], timeout: float = 30) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if done(job):
                return job
            time.sleep(0.05)
        logs = "\n".join(w.log_path.read_text() for w in self.workers)
        raise AssertionError(f"job {job_id} never got there; last seen {job}\n{logs}")

    def freeze(self, worker: WorkerProcess) -> None:
        """SIGSTOP a worker's whole process group at a moment it holds no write lock.

        SQLite has one write lock for the whole database: a process frozen inside a
        write transaction blocks every writer until it resumes.  PostgreSQL has no such
        lock, so any moment will do.
        """
        for _ in range(100):
            worker.signal(signal.SIGSTOP, group=True)
            if self.db.is_postgres or self._sqlite_write_lock_free():
                return
            worker.signal(signal.SIGCONT, group=True)
            time.sleep(0.01)
        raise AssertionError("the worker always held the SQLite write lock")

    def _sqlite_write_lock_free(self) -> bool:
        conn = sqlite3.connect(self.db.engine.url.database or "", timeout=0.2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
        return True

    def notes_lines(self) -> list[str]:
        return self.notes.read_text().splitlines() if self.notes.exists() else []

    def wait_for_note(self, line: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line in self.notes_lines():
                return
            time.sleep(0.02)
        raise AssertionError(f"{line!r} never noted; notes: {self.notes_lines()}")

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.db.dispose()
