"""The API's bodies for split exports (``options.split``) and their files."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from exportd.api.numbers import COUNT_MAX, Count


def _deliver() -> Any:
    return Field(
        default="zip",
        description="`zip`: one zip of the parts, manifest.json and manifest.json.sig; "
        "`parts`: each file stored and downloaded on its own (`GET …/files`)",
    )


class SplitRows(BaseModel):
    """Parts of `rows` rows each (the last one fewer)."""

    model_config = ConfigDict(extra="forbid")

    rows: Count = Field(
        ge=1, le=COUNT_MAX, description="rows per part (at least EXPORTD_SPLIT_MIN_ROWS)"
    )
    deliver: Literal["zip", "parts"] = _deliver()


class SplitBytes(BaseModel):
    """Parts that end once they hold `bytes` bytes, as stored (not for xlsx)."""

    model_config = ConfigDict(extra="forbid")

    bytes: Count = Field(ge=1, le=COUNT_MAX, description="at least EXPORTD_SPLIT_MIN_BYTES")
    deliver: Literal["zip", "parts"] = _deliver()


def _limit(value: Any) -> str | None:
    """Which of the two a split asks for: exactly one of `rows` and `bytes`."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    named = {"rows", "bytes"} & set(value) if isinstance(value, dict) else set()
    return named.pop() if len(named) == 1 else None


# One of the two, in the schema too (a oneOf of closed objects), so a request with both
# or neither is malformed to every client and fuzzer, not only to this server.
SplitIn = Annotated[
    Annotated[SplitRows, Tag("rows")] | Annotated[SplitBytes, Tag("bytes")],
    Discriminator(
        _limit, custom_error_type="split_invalid", custom_error_message="give one of rows and bytes"
    ),
]


class SplitOut(BaseModel):
    """How a split export was cut, and into how many parts."""

    model_config = ConfigDict(extra="allow")

    deliver: Literal["zip", "parts"]
    parts: int
    rows: int | None = Field(default=None, exclude_if=lambda v: v is None)
    bytes: int | None = Field(default=None, exclude_if=lambda v: v is None)


class FileOut(BaseModel):
    name: str
    role: Literal["file", "part", "manifest", "signature"] = Field(
        description="`file`: an export of one file; else a split's part, its manifest, or "
        "the manifest's Ed25519 signature"
    )
    size: int = Field(description="bytes")
    sha256: str | None = Field(description="hex digest of the file's bytes")
    rows: int | None = Field(default=None, description="rows in a part (or in the one file)")
    download: str = Field(description="the owner's download of this file")


class FileList(BaseModel):
    files: list[FileOut]


class FileLinkOut(BaseModel):
    name: str
    url: str = Field(description="one-time: a GET downloads this file once")
    expires_at: datetime


class ManifestKey(BaseModel):
    """An Ed25519 public key as a JWK (RFC 8037)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="the public key, base64url")
    kid: str = Field(description="RFC 7638 thumbprint; a manifest's `signing_key`")
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class ManifestKeys(BaseModel):
    keys: list[ManifestKey]
