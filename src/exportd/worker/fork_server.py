"""The children's fork server, forked from the worker process itself.

multiprocessing's fork server is a new interpreter that imports the children's modules
again: about a second of CPU at every worker start, nearly all of it imports the worker
had already done.  This one is a fork of the worker, made once its modules are imported
and before it starts a thread or opens a connection (a fork of a process with threads
can inherit a lock held forever; one with open connections, a socket that two processes
then talk on).  Each child is a fork of the server, as with multiprocessing's.

Over a Unix socket pair, the worker sends a child's pickled target and arguments with
two descriptors: the child's end of its pipe and the write end of a status pipe.  The
server forks, writes the child's pid into the status pipe and, once it reaps the child,
its exit code; then closes it.  The worker's end of the status pipe is the child's
sentinel.  Every child also holds the read end of a pipe only the worker writes to: it
reads end of file when the worker dies, however it dies (``parent_sentinel``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import select
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

_HEADER = struct.Struct("!I")  # the length of the pickled request that follows
_STATUS = struct.Struct("!i")  # a pid, then an exit code (negative: the signal)

# Set in each child: the read end of the pipe only the worker writes to.
_parent_sentinel: int | None = None


def parent_sentinel() -> int | None:
    """In a child of a :class:`ForkServer`: a descriptor that is ready (end of file) once
    the worker is gone.  None elsewhere."""
    return _parent_sentinel


class ForkedChild:
    """What the worker sees of a child of its fork server: the part of
    :class:`multiprocessing.Process` it uses."""

    def __init__(self, pid: int, status: int) -> None:
        self.pid = pid
        self.sentinel = status
        self.exitcode: int | None = None
        self._closed = self._ended_seen = False

    def is_alive(self) -> bool:
        return not self._ended(0)

    def join(self, timeout: float | None = None) -> None:
        self._ended(timeout)

    def close(self) -> None:
        if not self._closed:
            os.close(self.sentinel)
            self._closed = True

    def _ended(self, timeout: float | None) -> bool:
        if self._ended_seen:
            return True
        if self._closed or not wait([self.sentinel], timeout):
            return self._closed
        data = os.read(self.sentinel, _STATUS.size)
        if len(data) == _STATUS.size:
            self.exitcode = _STATUS.unpack(data)[0]
        else:
            # The server died: nothing can watch this child any more, so it ends too
            # (the worker takes it for gone; its exit code is unknown).
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
        self._ended_seen = True
        return True


class ForkServer:
    """A fork of this process that forks the children.  Make it before this process
    starts a thread or opens a connection, and with the signals blocked that the
    children must be born with blocked."""

    def __init__(self, preload: Sequence[str]) -> None:
        ours, theirs = socket.socketpair()
        alive_r, self._alive_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the server: never returns
            ours.close()
            os.close(self._alive_w)
            _serve(theirs, alive_r, preload)
        theirs.close()
        os.close(alive_r)
        self.pid = pid
        self._socket = ours

    def start(
        self, target: Callable[..., None], conn: Connection, args: tuple[Any, ...]
    ) -> ForkedChild:
        """Fork a child that calls ``target(conn, *args)`` and exits."""
        status_r, status_w = os.pipe()
        try:
            try:
                request = pickle.dumps((target, args))
                socket.send_fds(
                    self._socket, [_HEADER.pack(len(request))], [conn.fileno(), status_w]
                )
                self._socket.sendall(request)
            finally:
                os.close(status_w)  # the server holds it now, or nobody does
            data = os.read(status_r, _STATUS.size)
            if len(data) != _STATUS.size:
                raise ConnectionError("the fork server ended before it started the child")
        except BaseException:
            os.close(status_r)
            raise
        return ForkedChild(_STATUS.unpack(data)[0], status_r)

    @property
    def alive(self) -> bool:
        return self._socket.fileno() != -1 and not _readable(self._socket)

    def close(self) -> None:
        """End the server (its children see the worker gone only when it is)."""
        if self._socket.fileno() != -1:
            self._socket.close()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)


def _readable(sock: socket.socket) -> bool:
    """The server never writes on the socket: readable means its end is closed."""
    return bool(select.select([sock], [], [], 0)[0])


def _serve(sock: socket.socket, alive_r: int, preload: Sequence[str]) -> None:
    status = 0
    try:
        for module in preload:
            importlib.import_module(module)
        _loop(sock, alive_r)
    except BaseException:  # a server that failed says why, then ends
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _loop(sock: socket.socket, alive_r: int) -> None:
    # SIGCHLD wakes the loop through this pipe; the handler itself does nothing.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    statuses: dict[int, int] = {}  # a running child's pid: its status pipe
    while True:
        ready = select.select([sock.fileno(), wake_r, alive_r], [], [])[0]
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(statuses)
        if alive_r in ready:
            return  # the worker is gone
        if sock.fileno() in ready:
            request = _receive(sock)
            if request is None:
                return  # the worker closed us
            closing = [sock, wake_r, wake_w, *statuses.values()]
            pid, status_w = _fork_one(request, closing, alive_r)
            statuses[pid] = status_w
            _reap(statuses)  # one that ended before its status pipe was recorded


def _receive(sock: socket.socket) -> tuple[bytes, list[int]] | None:
    header, fds, _flags, _address = socket.recv_fds(sock, _HEADER.size, 2)
    if not header:
        return None
    while len(header) < _HEADER.size:
        header += _recv_exactly(sock, _HEADER.size - len(header))
    return _recv_exactly(sock, _HEADER.unpack(header)[0]), fds


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the worker closed the fork server's socket mid-request")
        data += chunk
    return bytes(data)


def _fork_one(
    request: tuple[bytes, list[int]], closing: list[Any], alive_r: int
) -> tuple[int, int]:
    payload, (conn_fd, status_w) = request
    pid = os.fork()
    if pid == 0:
        _child(payload, conn_fd, status_w, closing, alive_r)
    os.close(conn_fd)
    os.write(status_w, _STATUS.pack(pid))
    return pid, status_w


def _child(payload: bytes, conn_fd: int, status_w: int, closing: list[Any], alive_r: int) -> None:
    global _parent_sentinel
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(status_w)
        for held in closing:
            if isinstance(held, socket.socket):
                held.close()
            else:
                os.close(held)
        _parent_sentinel = alive_r
        target, args = pickle.loads(payload)  # noqa: S301  # from the worker only: its socket pair
        target(Connection(conn_fd), *args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # as multiprocessing: print it, exit code 1
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(statuses: dict[int, int]) -> None:
    while statuses:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        write_end = statuses.pop(pid, None)
        if write_end is not None:
            with contextlib.suppress(OSError):
                os.write(write_end, _STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(write_end)
