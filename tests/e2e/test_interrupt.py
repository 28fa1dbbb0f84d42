"""Ctrl-C while `exportd serve`, `demo` or `worker` is still starting: exit 130, quietly —
no traceback from the process or from the children it is starting."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from tests.support.mail import free_port

pytestmark = pytest.mark.slow


def start(tmp: Path, *args: str, **settings: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTD_")}
    env.update(EXPORTD_LOG_FORMAT="json", **settings)
    return subprocess.Popen(
        [sys.executable, "-m", "exportd", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def loaded(pid: int, library: str) -> bool:
    """The process has loaded a shared library (it is past the interpreter's own start)."""
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def ctrl_c(process: subprocess.Popen[str]) -> list[str]:
    """SIGINT to the process group, as a terminal sends it; what was printed."""
    processes = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    _gone, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == [], f"left running: {alive}"
    return output.splitlines()


def free_text(lines: list[str]) -> list[str]:
    """The lines that are not the structured log's events."""
    found = []
    for line in lines:
        try:
            if "event" in json.loads(line):
                continue
        except ValueError:
            pass
        found.append(line)
    return found


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_ctrl_c_while_loading_exits_130_without_a_traceback(tmp_path: Path, command: str) -> None:
    """Signalled while it imports its modules (pydantic's core is loaded; the database
    layer, the app, uvicorn are still to come)."""
    process = start(tmp_path, command, "--port", str(free_port()))
    wait_until(lambda: loaded(process.pid, "_pydantic_core"), "importing")
    lines = ctrl_c(process)
    assert process.returncode == 130, lines
    assert lines == []


def test_ctrl_c_while_the_worker_starts_its_children_exits_130_quietly(tmp_path: Path) -> None:
    """Signalled while the children it spawned still import: they print no traceback,
    the worker stops them and exits 130."""
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    db = create_database(load_settings(database_url=url))
    upgrade(db)
    db.dispose()
    process = start(tmp_path, "worker", "--concurrency", "2", EXPORTD_DATABASE_URL=url)
    wait_until(lambda: len(psutil.Process(process.pid).children()) >= 2, "children spawned")
    lines = ctrl_c(process)
    assert process.returncode == 130, lines
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in lines), lines
    assert free_text(lines) == []
