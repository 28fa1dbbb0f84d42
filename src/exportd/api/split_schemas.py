"""The API's bodies for split exports (``options.split``) and their files."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class SplitIn(BaseModel):
    """One of `rows` and `bytes`: the export as several files and a signed manifest."""

    model_config = ConfigDict(extra="forbid")

    rows: StrictInt | None = Field(
        default=None, ge=1, description="rows per part (at least EXPORTD_SPLIT_MIN_ROWS)"
    )
    deliver: Literal["zip", "parts"] = Field(
        default="zip",
        description="`zip`: one zip of the parts, manifest.json and manifest.json.sig; "
        "`parts`: each file stored and downloaded on its own (`GET …/files`)",
    )
    # Last: a field named `bytes` would shadow the type for the annotations after it.
    bytes: StrictInt | None = Field(
        default=None,
        ge=1,
        description="a part ends once it holds this many bytes, as stored "
        "(at least EXPORTD_SPLIT_MIN_BYTES; not for xlsx)",
    )

    @model_validator(mode="after")
    def _one_limit(self) -> SplitIn:
        if (self.rows is None) == (self.bytes is None):
            raise ValueError("give one of rows and bytes")
        return self


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
