"""Bodies of ``/v1/destinations``.  ``config`` and ``secret`` are documented as each
kind's shape and checked by the destination service, which names the fields at fault
(422 ``destination_config_invalid``, ``key_template_invalid``,
``destination_secret_invalid``) — the same refusals the page gets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

from exportd.destinations.models import (
    DestinationView,
    Kind,
    S3Config,
    S3Secret,
    SftpConfig,
    SftpSecret,
    TestResult,
)


def _an_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("Input should be a valid dictionary")  # pydantic's own words
    return value


Config = Annotated[
    dict[str, Any], PlainValidator(_an_object, json_schema_input_type=S3Config | SftpConfig)
]
Secret = Annotated[
    dict[str, Any], PlainValidator(_an_object, json_schema_input_type=S3Secret | SftpSecret)
]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]


class DestinationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    name: Name
    config: Config = Field(description="where and how to write: the kind's config")
    secret: Secret = Field(description="the credentials: stored encrypted, never returned")


class DestinationChange(BaseModel):
    """What to change: the name, some config fields (merged), or the whole secret."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    config: Config | None = Field(default=None, description="fields to change")
    secret: Secret | None = Field(default=None, description="the new credentials, whole")


class DestinationOut(BaseModel):
    """A destination; its secret is never part of it."""

    id: str
    kind: Literal["s3", "sftp"]
    name: str
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: DestinationView) -> DestinationOut:
        return cls(
            id=view.id,
            kind=view.kind.value,
            name=view.name,
            config=view.config,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class TestOut(BaseModel):
    """A probe written and removed, or why not (``code`` as a dead delivery's would be)."""

    ok: bool
    code: str | None
    message: str
    location: str | None = Field(description="where the probe was written")
    elapsed_ms: float

    @classmethod
    def of(cls, result: TestResult) -> TestOut:
        return cls(
            ok=result.ok,
            code=result.code,
            message=result.message,
            location=result.location,
            elapsed_ms=result.elapsed_ms,
        )
