"""A live exportd for end-to-end tests: ``exportd serve`` and ``exportd worker`` as real
processes on a fresh SQLite database and a local file store."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typer.testing import Result

from exportd.auth.tokens import mint
from exportd.config import jwt_key, load_settings
from exportd.db import Database, create_database
from tests.support.command_line import invoke
from tests.support.databases import migrated_sqlite
from tests.support.mail import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Live:
    url: str
    env: dict[str, str]
    tmp: Path
    database_url: str

    def token(self, user: str, plan: str = "pro") -> str:
        return mint(user, secret=jwt_key(load_settings()), plan=plan)

    def database(self) -> Database:
        return create_database(load_settings(database_url=self.database_url))

    def run(
        self, *args: str, user: str | None = "bob", timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``exportd ARGS`` as a client of this server (``user``'s token in the env)."""
        env = {**self.env, "EXPORTD_URL": self.url, "COLUMNS": "200"}
        if user:
            env["EXPORTD_TOKEN"] = self.token(user)
        return subprocess.run(
            [sys.executable, "-m", "exportd", *args],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def invoke(self, *args: str, user: str | None = "bob") -> Result:
        """``exportd ARGS`` as :meth:`run` runs it, but in this process
        (tests/support/command_line.py)."""
        env = {"EXPORTD_URL": self.url, "EXPORTD_TOKEN": self.token(user) if user else None}
        with contextlib.chdir(self.tmp):
            return invoke(args, env)


@contextmanager
def live_exportd(
    tmp: Path,
    *,
    seed: Callable[[Database], None] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Live]:
    database = migrated_sqlite(tmp / "live.db")
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "EXPORTD_DATABASE_URL": database,
        "EXPORTD_STORAGE_URL": f"file://{tmp / 'files'}",
        "EXPORTD_SOURCE_MODULES": '["exportd.demo.sources:demo_sources"]',
        "EXPORTD_LOG_FORMAT": "json",
        "EXPORTD_POLL_INTERVAL_S": "0.2",
        **(env or {}),
    }
    db = create_database(load_settings(database_url=database))
    if seed is not None:
        seed(db)
    db.dispose()
    port = free_port()
    logs = (tmp / "server.log").open("w"), (tmp / "worker.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "exportd", "serve", "--port", str(port)],
        env=full_env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "exportd", "worker", "--concurrency", "2"],
        env=full_env,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield Live(url, full_env, tmp, database)
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=30)
        for log in logs:
            log.close()
