"""Values of destinations: what each kind's ``config`` and ``secret`` hold, and a
destination as its owner sees it (never with its secret).

``config`` is where and how to write; ``secret`` is the credential, sealed at rest
(:mod:`exportd.destinations.secrets`) and never returned.  Both are checked here, so the
API and the page refuse the same things with the same codes.
"""

from __future__ import annotations

import enum
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from exportd.destinations.keys import DEFAULT_TEMPLATE, KeyTemplateInvalid, check_template
from exportd.errors import RequestInvalid

HOST = r"^[A-Za-z0-9.:\-\[\]]+$"  # a name, an IPv4 or an IPv6 address
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)


class Kind(enum.StrEnum):
    S3 = "s3"
    SFTP = "sftp"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Keyed(_Strict):
    key_template: str = Field(
        default=DEFAULT_TEMPLATE,
        max_length=512,
        description="where each file goes under the prefix or directory",
    )

    @field_validator("key_template")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            return check_template(value)
        except KeyTemplateInvalid as exc:
            raise ValueError(str(exc)) from None


class S3Config(_Keyed):
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$")
    prefix: str = Field(default="", max_length=512, description="a folder in the bucket")
    region: str | None = Field(default=None, max_length=32, pattern=r"^[a-z0-9\-]+$")
    endpoint_url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^/@\s]+(:\d+)?/?$",
        description="an S3-compatible service (MinIO, R2, Wasabi…); AWS when absent",
    )
    addressing_style: Literal["path", "virtual"] = "path"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if value:
            _relative_path(value)
        return value


class SftpConfig(_Keyed):
    host: str = Field(min_length=1, max_length=253, pattern=HOST)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=128, pattern=r"^[^\s:@/]+$")
    host_key: str = Field(
        min_length=20,
        max_length=4096,
        description="the server's public host key as `ssh-keyscan` prints it "
        "(`ssh-ed25519 AAAA…`): any other key is refused",
    )
    directory: str = Field(default=".", max_length=512, description="where files go")

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str) -> str:
        return parse_host_key(value)

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        value = value.rstrip("/") or "/"
        if value not in (".", "/"):
            _relative_path(value.lstrip("/"))
        return value


class S3Secret(_Strict):
    access_key_id: str = Field(min_length=1, max_length=256)
    secret_access_key: str = Field(min_length=1, max_length=256)
    session_token: str | None = Field(default=None, max_length=4096)


class SftpSecret(_Strict):
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    private_key: str | None = Field(
        default=None, max_length=16384, description="OpenSSH or PEM private key"
    )
    passphrase: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _one_way_in(self) -> SftpSecret:
        if (self.password is None) == (self.private_key is None):
            raise ValueError("give a password or a private_key (one of them)")
        if self.private_key is not None:
            check_private_key(self.private_key, self.passphrase)
        return self


CONFIGS: dict[Kind, type[S3Config] | type[SftpConfig]] = {
    Kind.S3: S3Config,
    Kind.SFTP: SftpConfig,
}
SECRETS: dict[Kind, type[S3Secret] | type[SftpSecret]] = {
    Kind.S3: S3Secret,
    Kind.SFTP: SftpSecret,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DestinationView:
    """A destination as its owner sees it: the secret is never part of it."""

    id: str
    owner_id: str
    kind: Kind
    name: str
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResult:
    """What ``POST /v1/destinations/{id}/test`` found: a probe written and removed."""

    ok: bool
    code: str | None
    message: str
    location: str | None
    elapsed_ms: float


def parse_config(kind: Kind, config: dict[str, Any]) -> S3Config | SftpConfig:
    """The config of a kind, or 422 ``key_template_invalid`` / ``destination_config_invalid``
    naming each field at fault (``config.bucket``)."""
    try:
        return CONFIGS[kind].model_validate(config)
    except ValidationError as exc:
        fields = _fields(exc, "config")
        template = any(f["field"] == "config.key_template" for f in fields)
        raise RequestInvalid(
            "the key template is not valid" if template else f"the {kind} config is not valid",
            code="key_template_invalid" if template else "destination_config_invalid",
            errors=fields,
        ) from None


def parse_secret(kind: Kind, secret: dict[str, Any]) -> S3Secret | SftpSecret:
    """The secret of a kind, or 422 ``destination_secret_invalid``; its values are never
    echoed, only the fields at fault."""
    try:
        return SECRETS[kind].model_validate(secret)
    except ValidationError as exc:
        raise RequestInvalid(
            f"the {kind} secret is not valid",
            code="destination_secret_invalid",
            errors=_fields(exc, "secret", with_input=False),
        ) from None


def parse_host_key(value: str) -> str:
    """``type base64 [comment]`` as known_hosts and ssh-keyscan write it; the comment is
    dropped (a known_hosts line's host names first are dropped too)."""
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    words = value.split()
    while words and words[0] not in SSH_KEY_TYPES:
        words = words[1:]  # "host ssh-ed25519 AAAA…": a known_hosts line
    if len(words) < 2 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", words[1]):
        raise ValueError(f"a host key is `TYPE BASE64`, TYPE one of {', '.join(SSH_KEY_TYPES)}")
    key = f"{words[0]} {words[1]}"
    try:
        load_ssh_public_key(key.encode())
    except (ValueError, TypeError):
        raise ValueError("the host key does not decode as that type of key") from None
    return key


def check_private_key(key: str, passphrase: str | None) -> None:
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_ssh_private_key,
    )

    password = passphrase.encode() if passphrase else None
    data = key.strip().encode() + b"\n"
    loader = load_ssh_private_key if b"OPENSSH PRIVATE KEY" in data else load_pem_private_key
    try:
        loader(data, password=password)
    except (ValueError, TypeError):
        raise ValueError("the private key (with its passphrase) does not load") from None


def _relative_path(value: str) -> None:
    if "\\" in value or any(ord(c) < 32 for c in value):
        raise ValueError("no backslashes or control characters")
    if any(part in ("", ".", "..") for part in value.split("/")) or posixpath.isabs(value):
        raise ValueError("no empty, '.' or '..' segments")


def _fields(exc: ValidationError, root: str, *, with_input: bool = True) -> list[dict[str, object]]:
    errors: list[dict[str, object]] = []
    for error in exc.errors(include_input=with_input, include_url=False):
        location = ".".join([root, *map(str, error["loc"])])
        message = error["msg"].removeprefix("Value error, ")
        errors.append({"field": location, "message": message})
    return errors
