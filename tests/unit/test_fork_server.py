"""The worker's own fork server: what it preloads, children forked from a fork of this
process, watched through their status pipe, and the worker's fallback when the server
is gone."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path

import psutil
import pytest

from exportd import app_wiring, cli
from exportd.config import load_settings
from exportd.queue.app import AppRef
from exportd.worker import fork_server
from exportd.worker.children import Child, preloaded
from exportd.worker.fork_server import ForkServer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this system")


def test_the_worker_command_preloads_the_app_it_runs() -> None:
    # Named in the CLI before the app's module is imported: the same factory the app's
    # reference names.
    assert cli.WORKER_FACTORY == app_wiring.FACTORY
    assert app_wiring.worker_app().ref is not None
    assert app_wiring.worker_app().ref.factory == cli.WORKER_FACTORY


def test_the_fork_server_preloads_the_child_and_the_factory_not_the_plugins() -> None:
    assert preloaded("exportd.app_wiring:worker_app") == [
        "exportd.worker.child",
        "exportd.app_wiring",
    ]


def echo(conn: Connection, greeting: str) -> None:
    """Answers once: its greeting, whether it can see the worker, its parent."""
    conn.send((greeting, fork_server.parent_sentinel() is not None, os.getppid()))
    conn.recv()  # until told to end


def ends_with(conn: Connection, code: int) -> None:
    raise SystemExit(code)


def fails(conn: Connection) -> None:
    raise RuntimeError("a target that fails")


def waits_for_the_worker(conn: Connection, note: str) -> None:
    sentinel = fork_server.parent_sentinel()
    assert sentinel is not None
    conn.send("watching")
    wait([sentinel])
    Path(note).write_text("the worker is gone")


@pytest.fixture
def server() -> Iterator[ForkServer]:
    started = ForkServer(preload=["json"])
    yield started
    started.close()


def pipe() -> tuple[Connection, Connection]:
    return multiprocessing.Pipe(duplex=True)


def test_a_child_runs_its_target_with_its_pipe_and_reports_its_exit(server: ForkServer) -> None:
    ours, theirs = pipe()
    child = server.start(echo, theirs, ("hello",))
    theirs.close()
    assert ours.poll(10)
    assert ours.recv() == ("hello", True, server.pid)  # a child of the server, not ours
    assert child.is_alive()
    ours.send("end")
    child.join(10)
    assert not child.is_alive()
    assert child.exitcode == 0
    child.close()


@pytest.mark.parametrize(
    ("target", "args", "code"), [(ends_with, (3,), 3), (fails, (), 1)], ids=["exit 3", "raises"]
)
def test_the_exit_code_is_the_childs(
    server: ForkServer, target: object, args: tuple[int], code: int
) -> None:
    _ours, theirs = pipe()
    child = server.start(target, theirs, args)  # type: ignore[arg-type]
    theirs.close()
    child.join(10)
    assert child.exitcode == code


def test_a_killed_child_reports_the_signal(server: ForkServer) -> None:
    ours, theirs = pipe()
    child = server.start(echo, theirs, ("hi",))
    assert ours.poll(10)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert (child.is_alive(), child.exitcode) == (False, -signal.SIGKILL)


def test_many_children_each_report_their_own_end(server: ForkServer) -> None:
    started = []
    for code in range(5):
        ours, theirs = pipe()
        started.append((server.start(ends_with, theirs, (code,)), ours))
        theirs.close()
    for code, (child, _) in enumerate(started):
        child.join(10)
        assert child.exitcode == code


def test_children_see_the_worker_go(tmp_path: Path) -> None:
    """The worker here is a fork of this process that starts a server and a child, then
    dies by SIGKILL: the child reads the end of the worker's pipe."""
    note = tmp_path / "note"
    worker = os.fork()
    if worker == 0:
        try:
            ours, theirs = pipe()
            server = ForkServer(preload=[])  # held: a server whose worker closed it ends
            server.start(waits_for_the_worker, theirs, (str(note),))
            ours.recv()
            time.sleep(60)
        finally:
            os._exit(1)
    deadline = time.monotonic() + 10
    while len(psutil.Process(worker).children(recursive=True)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)  # the child reports it watches before the worker sleeps
    os.kill(worker, signal.SIGKILL)
    os.waitpid(worker, 0)
    while not note.exists():
        assert time.monotonic() < deadline, "the child did not see its worker go"
        time.sleep(0.01)


def test_a_worker_whose_server_is_gone_starts_its_children_another_way(
    server: ForkServer, tmp_path: Path
) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    ref = AppRef("exportd.app_wiring:worker_app")
    os.kill(server.pid, signal.SIGKILL)
    os.waitpid(server.pid, 0)
    assert not server.alive
    child = Child(0, ref, settings, server)
    child.start()
    try:
        assert child.conn.poll(60)
        assert child.conn.recv() == ("ready",)
        assert psutil.Process(child.process.pid).ppid() != server.pid
    finally:
        child.stop()


def test_a_child_the_server_can_no_longer_watch_ends(server: ForkServer) -> None:
    ours, theirs = pipe()
    child = server.start(echo, theirs, ("hi",))
    assert ours.poll(10)
    os.kill(server.pid, signal.SIGKILL)
    os.waitpid(server.pid, 0)
    child.join(10)
    assert not child.is_alive()
    assert child.exitcode is None  # unknown: nothing reaped it
    deadline = time.monotonic() + 10
    while psutil.pid_exists(child.pid) and psutil.Process(child.pid).status() != "zombie":
        assert time.monotonic() < deadline, "the child outlived the server that watched it"
        time.sleep(0.01)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="no /proc to count descriptors")
def test_a_start_the_server_cannot_take_fails_and_keeps_no_descriptor(server: ForkServer) -> None:
    os.kill(server.pid, signal.SIGKILL)
    os.waitpid(server.pid, 0)
    _ours, theirs = pipe()
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(ConnectionError):  # the pipe broken, or the server ending
        server.start(echo, theirs, ("hi",))
    assert len(os.listdir("/proc/self/fd")) == before
