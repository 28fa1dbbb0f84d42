"""Streams between a writer and storage."""

from __future__ import annotations

import hashlib
from typing import BinaryIO


class CountingSink:
    """Counts the bytes on their way to ``sink``."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return self.sink.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.sink.flush()

    @property
    def closed(self) -> bool:
        return False


class HashingSink(CountingSink):
    """Counts and hashes the bytes on their way to ``sink`` (no second read)."""

    def __init__(self, sink: BinaryIO) -> None:
        super().__init__(sink)
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return super().write(data)
