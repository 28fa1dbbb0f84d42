"""Fresh databases for tests: a SQLite file per test, or a PostgreSQL database per test
cloned from a migrated template (cloning is much faster than migrating each time)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

PG_ADMIN_URL = os.environ.get(
    "EXPORTD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI must run the PostgreSQL tests: {problem}")
    pytest.skip(problem)


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


@cache
def pg_template() -> str:
    """Create and migrate this session's template database once."""
    from exportd.config import load_settings
    from exportd.db import create_database
    from exportd.db.migrate import upgrade

    name = f"exportd_tpl_{os.getpid()}"
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = create_database(load_settings(database_url=pg_url(name)), pool=False)
    upgrade(db)
    db.dispose()
    return name


def drop_pg_template() -> None:
    if pg_template.cache_info().currsize:
        name = pg_template()
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def fresh_pg_database(*, migrated: bool = True) -> Iterator[str]:
    """A new database for one test; yields its URL and drops it afterwards."""
    name = f"exportd_t_{uuid.uuid4().hex[:12]}"
    if migrated:
        template = sql.Identifier(pg_template())
        _admin(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), template))
    else:
        _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield pg_url(name)
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a migrated, empty database: a SQLite file in ``folder``, or a fresh
    PostgreSQL database (skipped locally, failed in CI, when none answers)."""
    if backend == "sqlite":
        from exportd.config import load_settings
        from exportd.db import create_database
        from exportd.db.migrate import upgrade

        url = f"sqlite:///{folder / 'exportd.db'}"
        db = create_database(load_settings(database_url=url), pool=False)
        upgrade(db)
        db.dispose()
        yield url
        return
    require_postgres()
    with fresh_pg_database() as url:
        yield url
