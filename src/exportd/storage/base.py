"""The storage port: write a file under a key (all or nothing), read it, delete it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    size: int
    sha256: str


class Storage(Protocol):
    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write; it appears under ``key`` only if the block ends without error."""

    def stat(self, key: str) -> StoredFile | None: ...

    def read(self, key: str, *, chunk: int = 1 << 16) -> Iterator[bytes]: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is fine."""
