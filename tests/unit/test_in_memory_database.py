"""Which databases another connection would see as empty: in-memory SQLite only (the
export's count, the change feed and the Arrow fetch each open connections of their own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exportd.config import load_settings
from exportd.db import create_database


@pytest.mark.parametrize(
    ("url", "in_memory"),
    [
        ("sqlite://", True),
        ("sqlite:///:memory:", True),
        ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", True),
        ("sqlite:///{tmp}/exportd.db", False),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", False),
    ],
)
def test_only_an_in_memory_sqlite_is_in_memory(url: str, in_memory: bool, tmp_path: Path) -> None:
    # No pool: SQLAlchemy pools in-memory SQLite by thread and takes no pool sizes.
    db = create_database(load_settings(database_url=url.format(tmp=tmp_path)), pool=False)
    try:
        assert db.is_in_memory is in_memory
    finally:
        db.dispose()
