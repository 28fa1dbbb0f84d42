"""A local directory: files are written beside their final name and renamed into place,
so a reader never sees half a file and a crash leaves only a ``.part`` to clean up."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from exportd.errors import StorageError
from exportd.private import make_dirs, open_new
from exportd.storage.base import check_key, traced_writes

_CHUNK = 1 << 16


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """Where ``key`` lives; a key that would escape the root is refused."""
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError(f"storage key escapes the root: {key!r}", code="storage_key_invalid")
        return path

    @traced_writes("local")
    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        path = self.path(key)
        make_dirs(path.parent)  # 0700, and the file 0600: an export is a user's data
        partial = path.with_name(path.name + ".part")
        try:
            with open_new(partial) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def size(self, key: str) -> int | None:
        path = self.path(key)
        return path.stat().st_size if path.is_file() else None

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        with self.path(key).open("rb") as handle:
            handle.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                block = handle.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
                if not block:
                    return
                if remaining is not None:
                    remaining -= len(block)
                yield block

    def keys(self, *, older_than_s: float) -> Iterator[str]:
        if not self.root.is_dir():
            return
        cutoff = time.time() - older_than_s
        for path in self.root.rglob("*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path.relative_to(self.root).as_posix()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        path = self.path(key)
        return path if path.is_file() else None

    def link(self, key: str, *, filename: str, content_type: str, ttl_s: float) -> str | None:
        return None

    def probe(self) -> None:
        marker = f".probe/{uuid.uuid4().hex}"
        try:
            with self.writer(marker) as handle:
                handle.write(b"ok")
            self.delete(marker)
        except OSError as exc:
            raise StorageError(f"storage is not writable: {type(exc).__name__}") from exc
