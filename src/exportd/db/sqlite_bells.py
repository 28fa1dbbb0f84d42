"""Doorbells between the processes that share a SQLite file: a commit rings them.

PostgreSQL tells its listeners of a commit (``NOTIFY``); SQLite tells no one, so the
worker (for new jobs) and the API (for its long polls) read ``PRAGMA data_version``
every 2 ms while busy: on average a millisecond's wait at each of the two hops of an
export, and 500 looks a second in each process.

Here each listening process binds a Unix datagram socket in a folder next to the
database (``<database>-bells/``), and every exportd write transaction, once committed,
sends one byte to each socket there: the listeners' waits end at once.  A ring is only a
hint, never what correctness rests on: listeners still look at ``data_version`` now and
then, for writers that are not exportd (the ``sqlite3`` shell) and for a process killed
between its commit and its ring.  A socket whose process died is removed by the next
ring (the kernel refuses datagrams sent to it).  Where there are no Unix sockets, or
the socket's path would be longer than the kernel allows, there are no bells and the
listeners look as often as before.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from pathlib import Path

import structlog

from exportd.db.sqlite_writers import shared_file
from exportd.private import make_dirs
from exportd.wakeup import drain

log = structlog.get_logger("exportd.db")

FOLDER_SUFFIX = "-bells"
# sockaddr_un's sun_path: 108 bytes on Linux, 104 on macOS, with its terminating NUL.
MAX_PATH_BYTES = 103


class Bell:
    """One listener's socket: readable once a commit rang it."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self._sock = sock
        self.path = path

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> bool:
        """Whether it rang since the last drain."""
        return drain(self._sock)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self._sock.close()


class Bells:
    """The bells of one SQLite file's listeners."""

    def __init__(self, database: str) -> None:
        # A database only one connection sees (in memory) or opened by URI has none.
        self.folder = os.path.realpath(database) + FOLDER_SUFFIX if shared_file(database) else None
        self._lock = threading.Lock()
        self._sender: tuple[int, socket.socket] | None = None  # made per process

    @staticmethod
    def supported() -> bool:
        return hasattr(socket, "AF_UNIX")

    def listen(self) -> Bell | None:
        """A new bell that every ring reaches; None where there can be none (no Unix
        sockets, a path too long, a folder that cannot be made): the caller looks at
        ``data_version`` as often as it did without bells."""
        if self.folder is None or not self.supported():
            return None
        path = os.path.join(self.folder, f"{os.getpid()}-{secrets.token_hex(4)}")
        if len(os.fsencode(path)) > MAX_PATH_BYTES:
            log.info("sqlite_bells.off", reason="socket path too long", folder=self.folder)
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            make_dirs(Path(self.folder))  # 0700, as the database's own folder
            sock.bind(path)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            log.warning("sqlite_bells.off", error=type(exc).__name__, folder=self.folder)
            return None
        return Bell(sock, path)

    def ring(self) -> None:
        """Ring every listener's bell (after a commit).  Never raises: a bell is a hint."""
        if self.folder is None:
            return
        try:
            names = os.listdir(self.folder)
        except OSError:
            return  # no folder: nobody has listened yet
        if not names:
            return
        sender = self._own_sender()
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                sender.sendto(b"\0", path)
            except (BlockingIOError, InterruptedError):
                pass  # its queue is full: it has rings to hear already
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody listens there any more (its process died without removing it).
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except OSError:
                pass

    def close(self) -> None:
        """Close this process's sending socket (a ring after this makes another)."""
        with self._lock:
            if self._sender is not None:
                self._sender[1].close()
            self._sender = None

    def _own_sender(self) -> socket.socket:
        # Made again in a forked child: a socket is not shared across a fork's threads.
        with self._lock:
            if self._sender is None or self._sender[0] != os.getpid():
                if self._sender is not None:
                    self._sender[1].close()  # the parent's copy; the parent keeps its own
                sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sender.setblocking(False)
                self._sender = (os.getpid(), sender)
            return self._sender[1]
