from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from exportd.config import Settings, load_settings
from exportd.db import Database, create_database
from tests.support.browser import browser  # noqa: F401 - shared fixtures
from tests.support.customer_s3 import customer_s3  # noqa: F401
from tests.support.databases import drop_pg_template, migrated_database
from tests.support.hooks import receiver  # noqa: F401
from tests.support.mail import smtp_server  # noqa: F401
from tests.support.s3 import s3_endpoint, s3_url  # noqa: F401
from tests.support.sftp import sftp_server  # noqa: F401
from tests.support.shared_worker import BACKENDS, module_database_url  # noqa: F401
from tests.support.terminal import launched_processes_end  # noqa: F401


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database on each backend (the contract suites run on both)."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = create_database(settings)
    yield database
    database.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_pg_template()


# The long-running directories first, whole modules at a time (their module-scoped workers
# stay shared): pytest-xdist's work stealing then ends the run on short unit tests, not
# on a chaos run or a worker test that one process started last.
RUN_FIRST = ("tests/chaos/", "tests/e2e/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, prefix in enumerate(RUN_FIRST) if item.nodeid.startswith(prefix)),
            len(RUN_FIRST),
        )

    items.sort(key=rank)  # stable: each directory keeps its order
