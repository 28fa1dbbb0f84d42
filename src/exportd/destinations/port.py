"""The one small port behind which the customer's storage sits: put streams of bytes
under remote keys, each all or nothing, and probe that writing works.

The adapters (:mod:`~exportd.destinations.s3` on boto3, :mod:`~exportd.destinations.sftp`
on asyncssh) load their library when opened, so a worker that never delivers to SFTP
never imports asyncssh, and a missing extra is a terminal error naming it.  Their
failures are :class:`RetryableJobError` or :class:`TerminalJobError` with a
``destination_*`` code: the queue retries the first, and the second is a dead letter
at once.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from exportd.destinations.models import Kind, S3Config, S3Secret, SftpConfig, SftpSecret
from exportd.errors import TerminalJobError


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One file of a delivery: where it goes, and its bytes (opened when sent)."""

    remote_key: str
    chunks: Callable[[], Iterable[bytes]]


class Writer(Protocol):
    def put(self, chunks: Iterable[bytes], remote_key: str) -> None:
        """Write the bytes under ``remote_key`` (see :func:`remote_key`); nothing is left
        there, not even part of the file, if it fails."""

    def put_all(self, files: Sequence[Outgoing], between: Callable[[], None]) -> None:
        """Each file in turn, over one connection, as :meth:`put` writes one; ``between``
        runs before each (a cancel is heard there).  A failure stops at the file it hit:
        the files before it stay written."""

    def probe(self) -> str:
        """Write a small marker and remove it; returns where it wrote."""


@dataclass(frozen=True, slots=True)
class Reach:
    """How far a writer may go: private addresses or not, and its time for each step."""

    allow_private: bool
    timeout_s: float


def remote_key(config: S3Config | SftpConfig, key: str) -> str:
    """The object key in the bucket (under the prefix), or the path on the server."""
    if isinstance(config, S3Config):
        return f"{config.prefix}/{key}" if config.prefix else key
    return posixpath.join(config.directory, key) if config.directory != "." else key


def open_writer(
    config: S3Config | SftpConfig, secret: S3Secret | SftpSecret, *, reach: Reach
) -> Writer:
    if isinstance(config, S3Config) and isinstance(secret, S3Secret):
        from exportd.destinations.s3 import S3Writer

        return S3Writer(config, secret, reach=reach)
    if isinstance(config, SftpConfig) and isinstance(secret, SftpSecret):
        try:
            from exportd.destinations.sftp import SftpWriter
        except ImportError:
            raise TerminalJobError(
                "SFTP destinations need asyncssh: pip install 'exportd[sftp]'",
                code="destination_unsupported",
            ) from None
        return SftpWriter(config, secret, reach=reach)
    raise TerminalJobError(
        "the destination's secret is not of its kind", code="destination_unsupported"
    )


def kind_of(config: S3Config | SftpConfig) -> Kind:
    return Kind.S3 if isinstance(config, S3Config) else Kind.SFTP
