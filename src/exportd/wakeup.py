"""A self-pipe: one thread pokes it, another's select-style wait sees it at once."""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Sequence

# What poll() reports of a descriptor that has something to read, or that is closed or in
# error (the next read then says what happened).
READY = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL


def readable(fds: Sequence[int], timeout_s: float | None) -> set[int]:
    """Which of ``fds`` are ready to read (or closed, or in error), once any is or the
    time is up.  poll(), not select(): select() refuses descriptors from 1024 up, which a
    busy API process (a socket a client) reaches."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLPRI)
    timeout_ms = None if timeout_s is None else max(0, round(timeout_s * 1000))
    return {fd for fd, events in poller.poll(timeout_ms) if events & READY}


class Wakeup:
    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    @property
    def reader(self) -> socket.socket:
        return self._reader

    def fileno(self) -> int:
        return self._reader.fileno()

    def wake(self) -> None:
        # A full buffer already holds a wake-up: one is enough.
        with contextlib.suppress(BlockingIOError):
            self._writer.send(b"\0")

    def drain(self) -> bool:
        """Whether it was poked since the last drain."""
        return drain(self._reader)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def drain(sock: socket.socket) -> bool:
    """Read all that waits on a non-blocking socket of pokes: whether anything did."""
    poked = False
    try:
        while sock.recv(4096):  # b"": the other end closed
            poked = True
    except (BlockingIOError, InterruptedError):
        pass
    return poked
