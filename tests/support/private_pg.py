"""A PostgreSQL server of a test's own, on a free port: restarting it hurts nobody else.

The chaos test restarts PostgreSQL mid-run.  On the shared server that failed every
other test talking to it, so the chaos run had to run alone; on a private server (initdb
into a temporary directory, ``pg_ctl`` to start and restart it) it runs beside the rest
of the suite.  As root (CI), the server runs as the ``postgres`` user, as Debian's does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.mail import free_port

BIN_ROOT = Path("/usr/lib/postgresql")
INITDB = ("--auth=trust", "--encoding=UTF8", "--no-sync")


def pg_bin() -> Path | None:
    """The newest installed server's bin directory (Debian's layout), if any."""
    versions = sorted(
        (p for p in BIN_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


@dataclass
class PrivatePostgres:
    bin: Path
    data: Path
    port: int
    user: str | None  # who the server runs as (None: this process's user)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> str:
        return str(self.data.parent / "server.log")

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args],
            check=True,
            capture_output=True,
            user=self.user,
            timeout=90,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self._ctl("-o", options, "-l", self.log, "start")

    def restart(self) -> str:
        """A real restart (fast shutdown, as an operator's or a failover's)."""
        # With its log file again: without one the server writes to pg_ctl's output,
        # which it then holds open, and waiting for pg_ctl's output never ends.
        self._ctl("-m", "fast", "-l", self.log, "restart")
        return f"private PostgreSQL on port {self.port} restarted"

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Start a throwaway server; stop it and remove its files afterwards."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError(f"no PostgreSQL server binaries under {BIN_ROOT}")
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="exportd-pg-"))
    if user is not None:
        shutil.chown(folder, user)
    server = PrivatePostgres(bin=bin_dir, data=folder / "data", port=free_port(), user=user)
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres", *INITDB],
            check=True,
            capture_output=True,
            user=user,
            timeout=120,
        )
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
