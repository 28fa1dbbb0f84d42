"""Named data connections: the host application's databases that sources read from."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

CONNECTION_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite")
CONNECTION_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


class ConnectionSpec(BaseModel):
    """A named data connection: one of the host application's databases that sources
    read from (docs/connections.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = Field(
        description="postgresql://user@host/db, mysql://user@host/db (mariadb:// too) or "
        "sqlite:///path; the password better in password_env than here"
    )
    read_only: bool = Field(
        default=True,
        description="the database refuses writes on these sessions (PostgreSQL "
        "default_transaction_read_only, MySQL SET SESSION TRANSACTION READ ONLY, SQLite mode=ro)",
    )
    statement_timeout_s: float | None = Field(
        default=300.0, gt=0, description="a statement running longer is stopped by the database"
    )
    pool_size: int = Field(default=2, ge=1, le=64, description="connections kept per process")
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the environment variable holding the password",
    )
    connect_timeout_s: int = Field(default=5, ge=1, le=120, description="connecting gives up")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().split("://", 1)[0].split("+", 1)[0].lower()
        if scheme not in CONNECTION_SCHEMES or "://" not in value.get_secret_value():
            raise ValueError("must start with postgresql://, mysql://, mariadb:// or sqlite:///")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> ConnectionSpec:
        # Both would leave one silently unused: say which one counts instead of guessing.
        if self.password_env and "@" in self.url.get_secret_value().split("://", 1)[-1]:
            userinfo = self.url.get_secret_value().split("://", 1)[-1].split("@", 1)[0]
            if ":" in userinfo:
                raise ValueError(
                    "the url holds a password and password_env names another: keep one "
                    "(password_env, so the password stays out of the file)"
                )
        return self

    @property
    def engine(self) -> Literal["postgresql", "mysql", "sqlite"]:
        scheme = self.url.get_secret_value().split("://", 1)[0].split("+", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):
            return "postgresql"
        return "sqlite" if scheme == "sqlite" else "mysql"
