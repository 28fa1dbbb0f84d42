"""Ctrl-C while `exportd serve`, `demo` or `worker` is still starting: exit 130, quietly —
no traceback from the process or from the children it is starting."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from tests.support.mail import free_port
from tests.support.terminal import launch, stop

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("launched_processes_end")]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def loaded(pid: int, library: str) -> bool:
    """The process has loaded a shared library (it is past the interpreter's own start).
    Until it execs, the forked child is a copy of this test process, which has loaded
    the library too: a signal then would meet no Python handler (a flake under load)."""
    try:
        started = b"\0-m\0exportd\0" in Path(f"/proc/{pid}/cmdline").read_bytes()
        return started and library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


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
    process = launch(tmp_path, command, "--port", str(free_port()))
    wait_until(lambda: loaded(process.pid, "_pydantic_core"), "importing")
    lines = stop(process, "ctrl-c").splitlines()
    # A shell shows 130 for either: the exit status, or death by the SIGINT itself (which
    # CPython chooses on rare timings inside an import, under load; nothing is printed).
    assert process.returncode in (130, -signal.SIGINT), lines
    assert lines == []


def fork_server(pid: int) -> psutil.Process | None:
    """The worker's fork server: its only child (a fork of it; the children are the
    server's)."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children():
            return child
    return None


def started_children(pid: int) -> int:
    server = fork_server(pid)
    return len(server.children()) if server is not None else 0


@pytest.mark.parametrize("moment", ["fork server starting", "children starting"])
def test_ctrl_c_while_the_worker_starts_its_children_exits_130_quietly(
    tmp_path: Path, moment: str
) -> None:
    """Signalled as the worker forks the children's fork server (then checks its
    services), or once the server forks the children, which may still load their app:
    nothing prints a traceback, the worker stops them and exits 130."""
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    db = create_database(load_settings(database_url=url))
    upgrade(db)
    db.dispose()
    process = launch(tmp_path, "worker", "--concurrency", "2", EXPORTD_DATABASE_URL=url)
    if moment == "fork server starting":
        wait_until(lambda: fork_server(process.pid) is not None, "fork server started")
    else:
        wait_until(lambda: started_children(process.pid) >= 2, "children forked")
    lines = stop(process, "ctrl-c").splitlines()
    # 130, or ended by the SIGINT itself, which a shell also reports as 130: about one
    # start in six, signalled just as the fork server is launched, ends so (not yet
    # explained; the default handler is back by then).  Silently either way.
    assert process.returncode in (130, -signal.SIGINT), lines
    assert not any("Traceback" in line or "KeyboardInterrupt" in line for line in lines), lines
    assert free_text(lines) == []
