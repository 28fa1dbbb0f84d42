"""A real SFTP server on loopback (asyncssh's server), for the destination tests.

It runs on its own event loop in a thread of the test process and speaks real SSH, so
worker processes reach it too.  Its host key is made per server (the test pins it); two
users sign in: ``alice`` with a password and ``bob`` with a key.  Files land under
``root`` (the server's chroot).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

PASSWORD = "correct horse battery staple"


def new_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def public_line(key: asyncssh.SSHKey) -> str:
    """The key as ssh-keyscan prints it: ``ssh-ed25519 AAAA…``."""
    return key.export_public_key("openssh").decode().strip()


def private_text(key: asyncssh.SSHKey, passphrase: str | None = None) -> str:
    # Few KDF rounds: the default 128 takes seconds, and proves nothing more here.
    return key.export_private_key("openssh", passphrase=passphrase, rounds=1).decode()


@dataclass
class SftpServer:
    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    host_key: asyncssh.SSHKey = field(default_factory=new_key)
    client_key: asyncssh.SSHKey = field(default_factory=new_key)
    logins: list[str] = field(default_factory=list)

    @property
    def host_key_line(self) -> str:
        return public_line(self.host_key)

    def config(self, **extra: Any) -> dict[str, Any]:
        """A destination config for this server (as alice unless told)."""
        return {
            "host": self.host,
            "port": self.port,
            "username": "alice",
            "host_key": self.host_key_line,
            **extra,
        }

    def files(self) -> dict[str, bytes]:
        """Every file under the root, by its path there (temporary ones included)."""
        return {
            p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }


def _server_class(server: SftpServer) -> type[asyncssh.SSHServer]:
    bob = public_line(server.client_key)

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            ok = username == "alice" and password == PASSWORD
            if ok:
                server.logins.append(username)
            return ok

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
            ok = username == "bob" and public_line(key) == bob
            if ok:
                server.logins.append(username)
            return ok

    return Server


@pytest.fixture
def sftp_server(tmp_path: Path) -> Iterator[SftpServer]:
    root = tmp_path / "sftp-root"
    root.mkdir()
    server = SftpServer(root)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        listener = await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[server.host_key],
            server_factory=_server_class(server),
            sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(root).encode()),
            allow_scp=False,
        )
        holder["listener"] = listener
        server.port = listener.sockets[0].getsockname()[1]
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="sftp-server", daemon=True)
    thread.start()
    assert started.wait(10), "the SFTP server did not start"
    yield server

    async def stop() -> None:
        holder["listener"].close()
        await holder["listener"].wait_closed()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
