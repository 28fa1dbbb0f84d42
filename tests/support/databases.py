"""Fresh databases for tests: a SQLite file or a PostgreSQL database per test, each
cloned from a migrated template (cloning is much faster than migrating each time)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.pg_reuse import reset

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


# Used databases of this process, emptied and waiting for the next test.
_reusable: list[str] = []


def drop_pg_template() -> None:
    for name in _reusable:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _reusable.clear()
    if pg_template.cache_info().currsize:
        name = pg_template()
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def fresh_pg_database(*, migrated: bool = True) -> Iterator[str]:
    """A database for one test, as new (a reused one emptied, or a clone of the migrated
    template); yields its URL and empties or drops it afterwards."""
    if migrated and _reusable:
        name = _reusable.pop()
    else:
        name = f"exportd_t_{uuid.uuid4().hex[:12]}"
        template = sql.SQL(" TEMPLATE {}").format(sql.Identifier(pg_template()))
        _admin(
            sql.SQL("CREATE DATABASE {}{}").format(
                sql.Identifier(name), template if migrated else sql.SQL("")
            )
        )
    try:
        yield pg_url(name)
    finally:
        if migrated and reset(pg_url(name), pg_url(pg_template())):
            _reusable.append(name)
        else:
            _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@cache
def sqlite_template() -> Path:
    """This process's migrated SQLite file, made once and copied by ``migrated_sqlite``."""
    from exportd.config import load_settings
    from exportd.db import create_database
    from exportd.db.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="exportd-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "template.db"
    db = create_database(load_settings(database_url=f"sqlite:///{path}"), pool=False)
    upgrade(db)
    db.dispose()
    # Closing the last connection checkpoints the WAL: the main file alone is the database.
    assert not Path(f"{path}-wal").exists(), "the template's WAL was not checkpointed"
    return path


def migrated_sqlite(path: Path) -> str:
    """A migrated SQLite database at ``path`` (a copy of the template); returns its URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_template(), path)
    path.chmod(0o600)  # as exportd creates its own database files
    return f"sqlite:///{path}"


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a migrated, empty database: a SQLite file in ``folder``, or a fresh
    PostgreSQL database (skipped locally, failed in CI, when none answers)."""
    if backend == "sqlite":
        yield migrated_sqlite(folder / "exportd.db")
        return
    require_postgres()
    with fresh_pg_database() as url:
        yield url
