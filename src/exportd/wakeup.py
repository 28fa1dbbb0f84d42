"""A self-pipe: one thread pokes it, another's select-style wait sees it at once."""

from __future__ import annotations

import contextlib
import socket


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
        woken = False
        try:
            while self._reader.recv(4096):
                woken = True
        except BlockingIOError:
            pass
        return woken

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
