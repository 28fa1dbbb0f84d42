"""A split export's files stored each on its own (``split.deliver: "parts"``).

Each part is written through the storage's own writer (so it appears whole or not at
all, as any export file does); the parts already stored are deleted if the export does
not end well, and whatever that misses (a crash) the orphan sweep removes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, BinaryIO

import structlog

from exportd.errors import StorageError
from exportd.formats.sinks import CountingSink
from exportd.storage import Storage

log = structlog.get_logger("exportd.split")


class _Given(Exception):
    """Thrown into an open storage writer: the part is given up, not kept."""


class StoredParts:
    def __init__(self, storage: Storage, key_of: Callable[[str], str]) -> None:
        self._storage = storage
        self._key_of = key_of
        self._open: ExitStack | None = None
        self._sink: CountingSink | None = None
        self._name = ""
        # Every file stored so far: name, key, size (and sha256 of those added whole).
        self.files: list[dict[str, Any]] = []

    def begin(self, name: str) -> BinaryIO:
        self._open = ExitStack()
        self._name = name
        self._sink = CountingSink(
            self._open.enter_context(self._storage.writer(self._key_of(name)))
        )
        return self._sink  # type: ignore[return-value]

    def end(self) -> None:
        assert self._open is not None
        assert self._sink is not None
        opened, self._open = self._open, None
        opened.close()  # the storage writer keeps the file
        self.files.append(
            {"name": self._name, "key": self._key_of(self._name), "size": self._sink.size}
        )

    def add(self, name: str, data: bytes) -> None:
        self.begin(name).write(data)
        self.end()
        self.files[-1]["sha256"] = hashlib.sha256(data).hexdigest()

    def finish(self) -> None:
        """Nothing left to write: each file was kept as it ended."""

    def abort(self) -> None:
        if self._open is not None:
            opened, self._open = self._open, None
            opened.__exit__(_Given, _Given(), None)  # the storage writer discards it
        for stored in self.files:
            try:
                self._storage.delete(stored["key"])
            except (OSError, StorageError) as exc:  # the orphan sweep will try again
                log.warning("split.delete_failed", error=type(exc).__name__)
        self.files = []
