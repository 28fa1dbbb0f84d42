"""Files only exportd's own user may read: exported data, the SQLite database, spools.

Modes are set explicitly where a file or folder is created (0600 and 0700), whatever the
process's umask: an export is a user's data, and the database holds every export's
parameters and the hashes of links and keys.  Folders that already exist are left as
the operator made them; a database file that anyone may read is tightened to its owner
and group (its -wal and -shm copy its mode).

The commands that run for long (``serve``, ``worker``, ``demo``) also set the umask to
077 (:func:`private_umask`): a belt for what libraries create on their own (XlsxWriter's
and Chromium's temporary files, Prometheus's multiprocess files), not the mechanism.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import structlog

log = structlog.get_logger("exportd.private")

FILE_MODE = 0o600
DIR_MODE = 0o700
_OTHERS = stat.S_IRWXO


def private_umask() -> None:
    os.umask(0o077)


def make_dirs(path: Path) -> None:
    """``mkdir -p`` where every folder it creates is 0700 (``Path.mkdir(parents=True)``
    gives the parents the umask's default mode)."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)


def open_new(path: Path) -> BinaryIO:
    """Open ``path`` for writing, truncated, readable by this user only (a leftover file
    of the same name is tightened too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def sqlite_file(database: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would make it 0644, and its
    -wal and -shm after it); take others' rights off an existing one (a group the
    operator gave access to keeps it: 0640 at most)."""
    path = Path(database)
    try:
        make_dirs(path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))
        for part in (path, Path(f"{database}-wal"), Path(f"{database}-shm")):
            _tighten(part)
    except OSError as exc:
        # Not there now (a volume not mounted, a directory in the way): SQLite says so
        # when it connects, and the API answers database_unavailable until it is back.
        log.warning("private.sqlite_file_unavailable", error=type(exc).__name__)


def _tighten(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & _OTHERS and info.st_uid == os.geteuid():
        os.chmod(path, mode & ~_OTHERS)
        log.warning("private.tightened", path=str(path), was=oct(mode), now=oct(mode & ~_OTHERS))
