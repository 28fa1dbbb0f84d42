"""The storage port: write a file under a key (all or nothing), read it, delete it, list
what is there, and — where the backend can — hand out a short-lived direct link.

Keys are relative, ``/``-separated and never climb out (``..``); each backend maps them
onto its own namespace.  Backend failures surface as :class:`StorageError` (retryable)
whatever the backend's own exception type.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar
from urllib.parse import quote

from anyascii import anyascii

from exportd import tracing
from exportd.errors import StorageError

S = TypeVar("S")
WriterMethod = Callable[[S, str], AbstractContextManager[BinaryIO]]


class Storage(Protocol):
    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write; it appears under ``key`` only if the block ends without error."""

    def size(self, key: str) -> int | None:
        """The stored size, or None when there is no such key."""

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes from ``start`` up to ``end`` (exclusive; None: to the end)."""

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is fine."""

    def keys(self, *, older_than_s: float) -> Iterator[str]:
        """Keys (and leftovers of interrupted writes) untouched for ``older_than_s``."""

    def local_path(self, key: str) -> Path | None:
        """A path on this machine to serve the file from, when there is one."""

    def link(self, key: str, *, filename: str, content_type: str, ttl_s: float) -> str | None:
        """A direct, expiring URL for the client (S3 presigned), or None to stream it."""

    def probe(self) -> None:
        """Write and remove a marker: raises :class:`StorageError` if that fails."""


def traced_writes(backend: str) -> Callable[[WriterMethod[S]], WriterMethod[S]]:
    """A backend's ``writer`` in an ``exportd.storage.write`` span (when tracing is on):
    the backend and the bytes written, never the key (it holds the file's name)."""

    def decorate(writer: WriterMethod[S]) -> WriterMethod[S]:
        @contextmanager
        def traced(self: S, key: str) -> Iterator[BinaryIO]:
            attributes = {"exportd.storage.backend": backend}
            with (
                tracing.span("exportd.storage.write", attributes) as span,
                writer(self, key) as handle,
            ):
                yield handle
                span.set("exportd.storage.bytes", handle.tell())

        @functools.wraps(writer)
        def write(self: S, key: str) -> AbstractContextManager[BinaryIO]:
            return traced(self, key) if tracing.enabled() else writer(self, key)

        return write

    return decorate


def check_key(key: str) -> str:
    """Refuse keys that are empty, absolute or climb out of the root."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key: {key!r}", code="storage_key_invalid")
    return key


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback and the exact name as UTF-8 ``filename*`` (RFC 5987),
    which every current browser prefers.  The fallback is the name transliterated
    (``Łódź.csv`` -> ``Lodz.csv``), for the clients that read only ``filename``."""
    # Only printable ASCII in the fallback: no quote, backslash or control character (a
    # CR LF there would end the header and start another).
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in anyascii(filename))
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
