"""The destinations store: create, read, change, delete and test; every rule, no HTTP.

A destination is its owner's alone: another user's id is "not found" (404), for admins
too — a destination holds a customer's credentials and is only ever used by exports of
its owner.  Secrets are sealed when saved (:mod:`~exportd.destinations.secrets`), opened
only to connect, and never returned.  Hosts pass the SSRF guard when saved and again at
each connection.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from exportd.auth.principal import Principal
from exportd.clock import Clock, SystemClock
from exportd.config import Settings
from exportd.db import Database
from exportd.db.locks import lock_for_transaction
from exportd.db.tables import destinations
from exportd.destinations import guard
from exportd.destinations.models import (
    DestinationView,
    Kind,
    S3Config,
    SftpConfig,
    TestResult,
    parse_config,
    parse_secret,
)
from exportd.destinations.port import Reach, Writer, open_writer
from exportd.destinations.secrets import seal, unseal
from exportd.errors import Conflict, JobError, NotFound, RequestInvalid, TerminalJobError, classify

MAX_PER_EXPORT = 10


class DestinationService:
    def __init__(
        self, *, db: Database, secret_key: str, reach: Reach, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.secret_key = secret_key
        self.reach = reach
        self.clock = clock or SystemClock()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, db: Database, clock: Clock | None = None
    ) -> DestinationService:
        return cls(
            db=db,
            secret_key=settings.secret_key.get_secret_value(),
            reach=reach_of(settings),
            clock=clock,
        )

    def create(
        self,
        principal: Principal,
        *,
        kind: Kind,
        name: str,
        config: dict[str, Any],
        secret: dict[str, Any],
    ) -> DestinationView:
        checked = self._checked_config(kind, config)
        sealed_secret = parse_secret(kind, secret).model_dump(exclude_none=True)
        destination_id = uuid.uuid4().hex
        now = self.clock.now()
        with self.db.write() as conn:
            lock_for_transaction(conn, f"destinations:{principal.user_id}")
            self._refuse_taken(conn, principal, name)
            conn.execute(
                insert(destinations).values(
                    id=destination_id,
                    owner_id=principal.user_id,
                    kind=kind.value,
                    name=name,
                    config=checked,
                    secret=self._seal(sealed_secret, destination_id, principal.user_id),
                    created_at=now,
                    updated_at=now,
                )
            )
            return view_of(self._row(conn, principal, destination_id))

    def list_destinations(self, principal: Principal) -> list[DestinationView]:
        query = (
            select(destinations)
            .where(destinations.c.owner_id == principal.user_id)
            .order_by(destinations.c.name, destinations.c.id)
        )
        with self.db.read() as conn:
            return [view_of(row) for row in conn.execute(query)]

    def get(self, principal: Principal, destination_id: str) -> DestinationView:
        with self.db.read() as conn:
            return view_of(self._row(conn, principal, destination_id))

    def update(
        self,
        principal: Principal,
        destination_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        secret: dict[str, Any] | None = None,
    ) -> DestinationView:
        """Change the name, some of the config (merged over what is there) or the whole
        secret (a secret is replaced, never merged: it is never shown to merge with)."""
        with self.db.write() as conn:
            lock_for_transaction(conn, f"destinations:{principal.user_id}")
            row = self._row(conn, principal, destination_id)
            kind = Kind(row.kind)
            values: dict[str, Any] = {"updated_at": self.clock.now()}
            if name is not None and name != row.name:
                self._refuse_taken(conn, principal, name)
                values["name"] = name
            if config is not None:
                values["config"] = self._checked_config(kind, {**row.config, **config})
            if secret is not None:
                checked = parse_secret(kind, secret).model_dump(exclude_none=True)
                values["secret"] = self._seal(checked, row.id, row.owner_id)
            conn.execute(update(destinations).where(destinations.c.id == row.id).values(values))
            return view_of(self._row(conn, principal, destination_id))

    def delete(self, principal: Principal, destination_id: str) -> None:
        """Gone with its sealed secret; deliveries still pending to it fail as not found."""
        with self.db.write() as conn:
            row = self._row(conn, principal, destination_id)
            conn.execute(delete(destinations).where(destinations.c.id == row.id))

    def test(self, principal: Principal, destination_id: str) -> TestResult:
        """Write a probe object or file and remove it: the result says what happened."""
        with self.db.read() as conn:
            row = self._row(conn, principal, destination_id)
        started = time.perf_counter()
        location, failure = None, None
        try:
            location = writer_for(row, secret_key=self.secret_key, reach=self.reach).probe()
        except Exception as exc:  # a result to show, not an error of this request
            failure = classify(exc if isinstance(exc, JobError) else _unexpected(exc))
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        code = failure.code if failure else None
        message = failure.message if failure else f"wrote and removed {location}"
        return TestResult(
            ok=failure is None, code=code, message=message, location=location, elapsed_ms=elapsed
        )

    def _checked_config(self, kind: Kind, config: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_config(kind, config)
        host, port = host_of(parsed)
        if host is not None:
            try:
                guard.check_when_saved(host, port, allow_private=self.reach.allow_private)
            except TerminalJobError as exc:
                field = "config.endpoint_url" if kind is Kind.S3 else "config.host"
                raise RequestInvalid(
                    exc.message, code=exc.code, errors=[{"field": field, "message": exc.message}]
                ) from None
        return parsed.model_dump(mode="json", exclude_none=True)

    def _refuse_taken(self, conn: Connection, principal: Principal, name: str) -> None:
        taken = conn.execute(
            select(destinations.c.id).where(
                destinations.c.owner_id == principal.user_id, destinations.c.name == name
            )
        ).first()
        if taken is not None:
            raise Conflict(
                f"you already have a destination named {name!r}", code="destination_name_taken"
            )

    def _seal(self, secret: dict[str, Any], destination_id: str, owner_id: str) -> str:
        return seal(
            secret, secret_key=self.secret_key, destination_id=destination_id, owner_id=owner_id
        )

    def _row(self, conn: Connection, principal: Principal, destination_id: str) -> Row[Any]:
        row = conn.execute(
            select(destinations).where(
                destinations.c.id == destination_id,
                destinations.c.owner_id == principal.user_id,
            )
        ).first()
        if row is None:
            raise NotFound(f"no destination {destination_id}", code="destination_not_found")
        return row


def reach_of(settings: Settings) -> Reach:
    return Reach(
        allow_private=settings.destination_allow_private,
        timeout_s=settings.destination_timeout_s,
    )


def view_of(row: Row[Any]) -> DestinationView:
    return DestinationView(
        id=row.id,
        owner_id=row.owner_id,
        kind=Kind(row.kind),
        name=row.name,
        config=row.config,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def host_of(config: S3Config | SftpConfig) -> tuple[str | None, int]:
    """The host to check when saved (AWS's own endpoint needs none)."""
    if isinstance(config, SftpConfig):
        return config.host, config.port
    if config.endpoint_url is None:
        return None, 443
    from urllib.parse import urlsplit

    parts = urlsplit(config.endpoint_url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def writer_for(row: Row[Any], *, secret_key: str, reach: Reach) -> Writer:
    """A writer to the destination of ``row``, its secret opened for the connection only."""
    kind = Kind(row.kind)
    secret = unseal(row.secret, secret_key=secret_key, destination_id=row.id, owner_id=row.owner_id)
    try:
        config, opened = parse_config(kind, row.config), parse_secret(kind, secret)
    except RequestInvalid as exc:  # saved by an older exportd that allowed it
        raise TerminalJobError(exc.message, code=exc.code) from None
    return open_writer(config, opened, reach=reach)


def check_owned(conn: Connection, owner_id: str, ids: Sequence[str] | None) -> None:
    """Every destination an export names is its owner's: else 422 ``destination_unknown``
    naming each one at fault (another user's id reads as unknown, as it should)."""
    if not ids:
        return
    found = set(
        conn.execute(
            select(destinations.c.id).where(
                destinations.c.owner_id == owner_id, destinations.c.id.in_(list(ids))
            )
        ).scalars()
    )
    missing = [(index, d) for index, d in enumerate(ids) if d not in found]
    if missing:
        raise RequestInvalid(
            f"no destination {missing[0][1]!r} of yours",
            code="destination_unknown",
            errors=[
                {"field": f"destinations.{index}", "message": "not one of your destinations"}
                for index, _ in missing
            ],
        )


def named(conn: Connection, owner_id: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each of the owner's destinations ``ids`` with its name and kind: what an export's
    ``destination_status`` starts with, so its answer names them before any delivery."""
    rows = conn.execute(
        select(destinations.c.id, destinations.c.name, destinations.c.kind).where(
            destinations.c.owner_id == owner_id, destinations.c.id.in_(list(ids))
        )
    )
    return {row.id: {"name": row.name, "kind": row.kind} for row in rows}


def _unexpected(exc: Exception) -> JobError:
    return TerminalJobError(
        f"the test failed: {type(exc).__name__}", code="destination_unavailable"
    )
