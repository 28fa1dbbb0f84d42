"""One database and one worker per test module and backend, shared by its tests.

Starting ``exportd worker`` (a supervisor and its children) costs seconds of CPU; most
end-to-end tests only need *a* worker, not a fresh one.  They share the module's, and keep
to themselves by owner: each test gets owners no other test uses (``tenant``), so its
exports, quotas, plans and stored files (keys start with the owner) are its own.  Tests
about the worker process itself (crashes, signals, leases) still start their own.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.databases import migrated_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

_owners = itertools.count(1)


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database on each backend, for one module's tests together."""
    with migrated_database(request.param, tmp_path_factory.mktemp("module-db")) as url:
        yield url


def tenant(name: str) -> str:
    """An owner id no other test of this session uses (``bob`` becomes ``bob-gw0-12``)."""
    return f"{name}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{next(_owners)}"


def files_under(root: Path) -> list[Path]:
    """The files below ``root`` (none when it does not exist yet)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@contextmanager
def same_backend_database(url: str, folder: Path) -> Iterator[str]:
    """Another migrated, empty database on the backend of ``url``."""
    backend = "sqlite" if url.startswith("sqlite") else "postgres"
    with migrated_database(backend, folder) as other:
        yield other
