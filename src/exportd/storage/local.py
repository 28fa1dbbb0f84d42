"""A local directory: files are written beside their final name and renamed into place,
so a reader never sees half a file and a crash leaves only a ``.part`` to clean up."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from exportd.storage.base import StoredFile


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """Where ``key`` lives; a key that would escape the root is refused."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or key.startswith("/"):
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        try:
            with partial.open("wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def stat(self, key: str) -> StoredFile | None:
        path = self.path(key)
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return StoredFile(key, path.stat().st_size, digest.hexdigest())

    def read(self, key: str, *, chunk: int = 1 << 16) -> Iterator[bytes]:
        with self.path(key).open("rb") as handle:
            yield from iter(lambda: handle.read(chunk), b"")

    def keys(self, *, older_than_s: float) -> Iterator[str]:
        """Keys (and leftover ``.part`` files) not modified for ``older_than_s`` seconds."""
        if not self.root.is_dir():
            return
        cutoff = time.time() - older_than_s
        for path in self.root.rglob("*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path.relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def storage_from_url(url: str) -> LocalStorage:
    """``file://./var/exports`` or ``file:///abs/path``; S3 arrives with the storage issue."""
    if not url.startswith("file://"):
        raise ValueError("only file:// storage is available so far")
    return LocalStorage(Path(url.removeprefix("file://")))
