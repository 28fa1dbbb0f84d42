"""The customer's SFTP server, through asyncssh (the ``sftp`` extra).

- The host key is pinned: the server must prove it holds the key in the destination's
  config, or the connection is refused (``destination_host_key_mismatch``, naming the
  fingerprint offered and the one pinned) — never "trust on first use".  Nothing is read
  from ``~/.ssh`` (no config, known_hosts, default keys or agent).
- Key or password authentication, from the sealed secret.
- The file is written under a temporary name beside its final one (``.NAME.ID.part``),
  then renamed over it (``posix-rename@openssh.com`` where offered), so a reader never
  sees half a file; a failed write removes the temporary file.  A sender killed mid-write
  (a worker SIGKILLed) cannot: the next send that succeeds removes the temporary files
  its names left behind, so a crash leaves no stray file on the customer's server.
- The host goes through the SSRF guard; the connection is made to the checked address.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import asyncssh

from exportd.destinations import guard
from exportd.destinations.models import SftpConfig, SftpSecret
from exportd.destinations.port import Outgoing, Reach, remote_key
from exportd.errors import JobCancelled, JobError, RetryableJobError, TerminalJobError

BLOCK = 256 << 10  # bytes per write request: few round trips, little memory
T = TypeVar("T")


class _Witness(asyncssh.SSHClient):
    """Asked only about a host key that is not the pinned one: records it and says no."""

    def __init__(self) -> None:
        self.offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered = key
        return False


class SftpWriter:
    def __init__(self, config: SftpConfig, secret: SftpSecret, *, reach: Reach) -> None:
        self.config = config
        self.secret = secret
        self.reach = reach

    def put(self, chunks: Iterable[bytes], remote_key: str) -> None:
        self.put_all([Outgoing(remote_key, lambda: chunks)], lambda: None)

    def put_all(self, files: Sequence[Outgoing], between: Callable[[], None]) -> None:
        _run(self._put_all(files, between))

    def probe(self) -> str:
        path = remote_key(self.config, f".exportd-probe-{uuid.uuid4().hex}")
        _run(self._probe(path))
        return f"sftp://{self.config.host}:{self.config.port}/{path}"

    async def _put_all(self, files: Sequence[Outgoing], between: Callable[[], None]) -> None:
        async with self._session() as sftp:
            made: set[str] = set()
            for file in files:
                between()
                await _put(sftp, file.chunks(), file.remote_key, made)
            await _remove_left_behind(sftp, [file.remote_key for file in files])

    async def _probe(self, path: str) -> None:
        async with self._session() as sftp:
            await _put(sftp, [b"exportd destination probe\n"], path, set())
            await sftp.remove(path)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[asyncssh.SFTPClient]:
        config, timeout = self.config, self.reach.timeout_s
        address = guard.resolve(config.host, config.port, allow_private=self.reach.allow_private)
        witness = _Witness()
        try:
            connection = await asyncssh.connect(
                address,
                config.port,
                username=config.username,
                known_hosts=([asyncssh.import_public_key(config.host_key)], [], []),
                client_factory=lambda: witness,
                **self._credentials(),
                agent_path=None,
                config=[],
                connect_timeout=timeout,
                login_timeout=timeout,
            )
        except Exception as exc:
            raise _classified(exc, config, witness) from None
        try:
            async with connection, connection.start_sftp_client() as sftp:
                yield sftp
        except (JobError, JobCancelled):
            raise
        except Exception as exc:
            raise _classified(exc, config, witness) from None

    def _credentials(self) -> dict[str, Any]:
        if self.secret.private_key is not None:
            key = asyncssh.import_private_key(self.secret.private_key, self.secret.passphrase)
            return {"client_keys": [key], "password": None, "preferred_auth": "publickey"}
        return {
            "client_keys": None,
            "password": self.secret.password,
            "preferred_auth": "password,keyboard-interactive",
        }


async def _put(
    sftp: asyncssh.SFTPClient, chunks: Iterable[bytes], path: str, made: set[str]
) -> None:
    """One file, under a temporary name then renamed; ``made``: folders already made."""
    directory, name = posixpath.split(path)
    if directory and directory not in made:
        await sftp.makedirs(directory, exist_ok=True)
        made.add(directory)
    partial = posixpath.join(directory, _partial_name(name, uuid.uuid4().hex[:12]))
    try:
        async with sftp.open(partial, "wb") as handle:
            for block in _blocks(chunks):
                await handle.write(block)
        await _replace(sftp, partial, path)
    except BaseException:
        with suppress(Exception):
            await sftp.remove(partial)
        raise


def _partial_name(name: str, token: str) -> str:
    return f".{name}.{token}.part"


_PARTIAL = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.part")


async def _remove_left_behind(sftp: asyncssh.SFTPClient, paths: Sequence[str]) -> None:
    """Remove the temporary files of earlier sends of these paths, cut short by a crash:
    one listing per folder.  A sender still writing one (a worker that lost its lease)
    then fails its rename, as it should."""
    names: defaultdict[str, set[str]] = defaultdict(set)
    for path in paths:
        directory, name = posixpath.split(path)
        names[directory].add(name)
    for directory, ours in names.items():
        for entry in await sftp.listdir(directory or "."):
            match = _PARTIAL.fullmatch(entry)
            if match is not None and match["name"] in ours:
                with suppress(asyncssh.SFTPNoSuchFile):
                    await sftp.remove(posixpath.join(directory, entry))


async def _replace(sftp: asyncssh.SFTPClient, partial: str, path: str) -> None:
    """Rename over an existing file: atomically where the server offers POSIX rename."""
    try:
        await sftp.posix_rename(partial, path)
    except asyncssh.SFTPOpUnsupported:
        with suppress(asyncssh.SFTPNoSuchFile):
            await sftp.remove(path)
        await sftp.rename(partial, path)


def _blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= BLOCK:
            yield bytes(buffer[:BLOCK])
            del buffer[:BLOCK]
    if buffer:
        yield bytes(buffer)


def _run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


def _classified(exc: Exception, config: SftpConfig, witness: _Witness) -> JobError:
    where = f"{config.host}:{config.port}"
    if isinstance(exc, JobError):
        return exc
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        pinned = asyncssh.import_public_key(config.host_key)
        offered = witness.offered
        seen = (
            f"offered the {offered.get_algorithm()} host key {offered.get_fingerprint()}"
            if offered is not None
            else "offered no host key of the pinned type"
        )
        return TerminalJobError(
            f"the SFTP server at {where} {seen}, not the pinned "
            f"{pinned.get_algorithm()} key {pinned.get_fingerprint()}: refused",
            code="destination_host_key_mismatch",
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return TerminalJobError(
            f"the SFTP server at {where} refused {config.username!r}'s credentials",
            code="destination_auth_failed",
        )
    if isinstance(exc, asyncssh.SFTPPermissionDenied | asyncssh.SFTPNoSuchFile):
        return TerminalJobError(
            f"the SFTP server at {where} refused the write: {exc.reason}",
            code="destination_rejected",
        )
    if isinstance(exc, asyncssh.SFTPError):
        return RetryableJobError(
            f"the SFTP server at {where} failed: {exc.reason}", code="destination_unavailable"
        )
    return RetryableJobError(
        f"the SFTP server at {where} cannot be reached: {type(exc).__name__}",
        code="destination_unreachable",
    )
