"""What exportd writes to disk is its own user's only: stored exports 0600 in folders
0700, the SQLite database and its -wal/-shm with no rights for others, the XLSX spool
0700 with 0600 files.  Run under the usual umask (022), which made them 0644 before."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import text

from exportd.config import load_settings
from exportd.db import create_database
from exportd.db.migrate import upgrade
from exportd.formats import xlsx
from exportd.formats.base import OutputColumn
from exportd.formats.xlsx import XlsxWriter
from exportd.formats.xlsx_fast import FastXlsxWriter
from exportd.storage.local import LocalStorage

COLUMNS = [OutputColumn("n", "n")]
BATCH = pa.record_batch({"n": pa.array(range(10), pa.int64())})


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_stored_export_is_private(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "var" / "exports")
    with storage.writer("alice/01J/1/trades.csv") as sink:
        sink.write(b"a,b\n")
    stored = tmp_path / "var/exports/alice/01J/1/trades.csv"
    assert mode(stored) == 0o600
    for folder in ("var", "var/exports", "var/exports/alice", "var/exports/alice/01J/1"):
        assert mode(tmp_path / folder) == 0o700, folder


def test_a_leftover_part_file_is_tightened(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    (tmp_path / "k.csv.part").write_bytes(b"from a killed worker")
    os.chmod(tmp_path / "k.csv.part", 0o666)
    with storage.writer("k.csv") as sink:
        sink.write(b"new")
    assert mode(tmp_path / "k.csv") == 0o600


def test_the_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "exportd.db"
    db = create_database(load_settings(database_url=f"sqlite:///{path}"))
    upgrade(db)
    with db.write() as conn:  # WAL mode: the -wal and -shm exist while connected
        conn.execute(text("CREATE TABLE t (x)"))
        wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
        assert wal.exists()
        assert shm.exists()
        for part in (path, wal, shm):
            assert mode(part) & 0o077 == 0, f"{part.name}: {oct(mode(part))}"
    db.dispose()
    assert mode(tmp_path / "var") == 0o700


def test_an_existing_world_readable_database_loses_the_others_rights(tmp_path: Path) -> None:
    path = tmp_path / "exportd.db"
    path.touch()
    os.chmod(path, 0o644)
    create_database(load_settings(database_url=f"sqlite:///{path}")).dispose()
    assert mode(path) == 0o640  # a group the operator chose keeps reading


def test_the_xlsx_spool_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx.tempfile, "gettempdir", lambda: str(tmp_path))
    fast = FastXlsxWriter(io.BytesIO(), COLUMNS, BATCH.schema, sheets=1)
    slow = XlsxWriter(io.BytesIO(), COLUMNS)
    slow.write(BATCH)
    try:
        spooled = [
            Path(fast._path),
            *(Path(s.row_data_filename) for s in slow.workbook.worksheets()),
        ]
        for path in spooled:
            # The fast writer's file sits in the spool; XlsxWriter's in a folder of its own
            # there (removed whole when the export is cancelled), as private as the spool.
            assert xlsx.spool_dir() in (path.parent, path.parent.parent), path
            assert mode(path) == 0o600, path.name
            assert mode(path.parent) == 0o700, path.name
        assert mode(xlsx.spool_dir()) == 0o700
    finally:
        fast.abort()
        slow.abort()


def test_a_spool_folder_made_too_open_is_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = tmp_path / f"exportd-xlsx-{os.geteuid()}"
    folder.mkdir()
    os.chmod(folder, 0o777)
    assert xlsx.spool_dir() == folder
    assert mode(folder) == 0o700
