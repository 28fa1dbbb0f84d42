"""SMTP from one URL: ``smtp://`` (plain), ``smtp+starttls://`` or ``smtps://`` (TLS),
with optional ``user:password@``."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import unquote, urlsplit

from exportd import tracing
from exportd.errors import ConfigError

SETTING = "EXPORTD_SMTP_URL"
_SCHEMES: dict[str, tuple[Literal["plain", "starttls", "tls"], int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: Literal["plain", "starttls", "tls"]
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise ConfigError(
                f"{SETTING} must look like smtp+starttls://user:password@host:587 "
                "(or smtps://, or smtp:// for a plain local relay)"
            )
        security, default_port = _SCHEMES[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ConfigError(f"{SETTING} has an invalid port") from None
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({self.security}://{self.host}:{self.port})"

    def connect(self, timeout: float) -> smtplib.SMTP:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=timeout)
        try:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()  # a refused handshake or login must not leak the socket
            raise
        return client

    def send(self, message: EmailMessage, *, timeout: float = 30.0) -> None:
        # The server, never the addresses or the message.
        attributes: dict[str, str | int | None] = {
            "server.address": self.host,
            "server.port": self.port,
        }
        with (
            tracing.span("exportd.email.send", attributes, kind="client"),
            self.connect(timeout) as client,
        ):
            client.send_message(message)

    def check(self, *, timeout: float = 5.0) -> None:
        """Connect, greet (and log in) once: a start-up check that names the setting."""
        try:
            with self.connect(timeout) as client:
                client.noop()
        except (OSError, smtplib.SMTPException) as exc:
            raise ConfigError(
                f"{SETTING}: cannot reach the SMTP server at {self.host}:{self.port} "
                f"({type(exc).__name__}: {exc})"
            ) from None
