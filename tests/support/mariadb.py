"""MariaDB (or MySQL) for the named data connections' tests: a database per test in the
local server, as ``databases.py`` does for PostgreSQL (skipped locally with the reason
when none answers, failed in CI, which must run them)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest

from tests.support.databases import IN_CI

MYSQL_ADMIN = {
    "host": os.environ.get("EXPORTD_TEST_MYSQL_HOST", "127.0.0.1"),
    "port": int(os.environ.get("EXPORTD_TEST_MYSQL_PORT", "3306")),
    "user": os.environ.get("EXPORTD_TEST_MYSQL_USER", "root"),
    "password": os.environ.get("EXPORTD_TEST_MYSQL_PASSWORD", ""),
}


def _connect(**kwargs: Any) -> Any:
    import pymysql

    return pymysql.connect(**MYSQL_ADMIN, connect_timeout=3, autocommit=True, **kwargs)


@cache
def mysql_problem() -> str | None:
    """Why MariaDB cannot be used, or None when it answers."""
    try:
        import pymysql
    except ImportError:
        return "PyMySQL is not installed (pip install exportd[mysql])"
    try:
        _connect().close()
    except pymysql.Error as exc:
        return f"MariaDB at {MYSQL_ADMIN['host']}:{MYSQL_ADMIN['port']} is not reachable: {exc}"
    return None


def require_mysql() -> None:
    problem = mysql_problem()
    if problem is None:
        return
    if IN_CI:
        pytest.fail(f"CI must run the MariaDB tests: {problem}")
    pytest.skip(problem)


def mysql_url(database: str, *, user: str | None = None) -> str:
    who = user or MYSQL_ADMIN["user"]
    return f"mysql://{who}@{MYSQL_ADMIN['host']}:{MYSQL_ADMIN['port']}/{database}"


def mysql_execute(database: str | None, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements as the admin; the last one's rows."""
    conn = _connect(database=database) if database else _connect()
    rows: list[tuple[Any, ...]] = []
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
                rows = list(cursor.fetchall())
    finally:
        conn.close()
    return rows


@contextmanager
def fresh_mysql_database() -> Iterator[str]:
    """A new, empty database for one test; yields its name and drops it afterwards."""
    require_mysql()
    name = f"exportd_t_{uuid.uuid4().hex[:12]}"
    mysql_execute(None, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        mysql_execute(None, f"DROP DATABASE IF EXISTS `{name}`")
