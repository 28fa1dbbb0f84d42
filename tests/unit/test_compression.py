"""Compressed files (``options.compression``): gzip and a one-member zip, written while
the rows are, read back by DuckDB, polars, gzip(1) and unzip(1) as the plain file."""

from __future__ import annotations

import gc
import gzip
import io
import subprocess
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from exportd.formats import WriteOptions, open_writer
from exportd.formats.compression import Compressed, CompressedWriter, packed_name
from tests.unit.test_formats import COLUMNS, SCHEMA, WHEN

CREATED = datetime(2026, 12, 2, 9, 15, 30, tzinfo=UTC)
BATCHES = 6
BATCH_ROWS = 5_000


class Unseekable:
    """What the storage writer looks like through the hashing sink: writes, no seek."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.writes_after_abort = 0
        self.aborted = False

    def write(self, data: bytes) -> int:
        if self.aborted:
            self.writes_after_abort += 1
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def tell(self) -> int:
        return sum(map(len, self.parts))

    @property
    def closed(self) -> bool:
        return False

    def value(self) -> bytes:
        return b"".join(self.parts)


def batches(n: int = BATCHES) -> list[pa.RecordBatch]:
    out = []
    for b in range(n):
        start = b * BATCH_ROWS
        ids = list(range(start, start + BATCH_ROWS))
        out.append(
            pa.RecordBatch.from_pydict(
                {
                    "id": ids,
                    "symbol": [f'S{i % 97},"q" 日本' if i % 7 else None for i in ids],
                    "pnl": [i / 4 - 100 for i in ids],
                    "opened_at": [WHEN] * BATCH_ROWS,
                },
                schema=SCHEMA,
            )
        )
    return out


def write(fmt: str, compression: str | None, data: list[pa.RecordBatch]) -> bytes:
    sink = Unseekable()
    member = f"trades.{fmt}"
    stream = Compressed(sink, compression, member, when=CREATED) if compression else sink  # type: ignore[arg-type]
    writer = open_writer(fmt, stream, COLUMNS, SCHEMA, WriteOptions())  # type: ignore[arg-type]
    if isinstance(stream, Compressed):
        writer = CompressedWriter(writer, stream)
    for b in data:
        writer.write(b)
    writer.close()
    return sink.value()


@pytest.fixture(scope="module")
def data() -> list[pa.RecordBatch]:
    return batches()


def both_csv(folder: Path, data: list[pa.RecordBatch], compression: str) -> tuple[Path, Path]:
    """The plain CSV and the compressed one, as files."""
    plain = folder / "trades.csv"
    packed = folder / packed_name(plain.name, compression)
    plain.write_bytes(write("csv", None, data))
    packed.write_bytes(write("csv", compression, data))
    return plain, packed


def test_duckdb_reads_the_gzipped_csv_as_the_plain_one(
    tmp_path: Path, data: list[pa.RecordBatch]
) -> None:
    plain, packed = both_csv(tmp_path, data, "gzip")
    assert packed.stat().st_size < plain.stat().st_size / 3
    subprocess.run(["gzip", "-t", str(packed)], check=True)
    query = "SELECT * FROM read_csv('{}') ORDER BY id"
    rows = duckdb.sql(query.format(packed)).fetchall()
    assert len(rows) == BATCHES * BATCH_ROWS
    assert rows == duckdb.sql(query.format(plain)).fetchall()
    # The same bytes, and the header names the file inside (gunzip -N restores it).
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    header = packed.read_bytes()
    assert header[3] & 0x08  # FNAME
    assert header[10 : 10 + len("trades.csv") + 1] == b"trades.csv\0"
    assert int.from_bytes(header[4:8], "little") == int(CREATED.timestamp())


def test_polars_reads_the_unzipped_csv_as_the_plain_one(
    tmp_path: Path, data: list[pa.RecordBatch]
) -> None:
    plain, packed = both_csv(tmp_path, data, "zip")
    tested = subprocess.run(["unzip", "-t", str(packed)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "No errors detected" in tested.stdout
    with zipfile.ZipFile(packed) as archive:
        assert archive.testzip() is None
        (info,) = archive.infolist()
        assert info.filename == "trades.csv"
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.date_time == (2026, 12, 2, 9, 15, 30)
        assert info.file_size == plain.stat().st_size
        archive.extract(info, tmp_path / "out")
    unzipped = tmp_path / "out" / "trades.csv"
    assert unzipped.read_bytes() == plain.read_bytes()
    read = pl.read_csv(unzipped)
    assert read.height == BATCHES * BATCH_ROWS
    assert read.equals(pl.read_csv(plain))
    assert read["Symbol"][1] == 'S1,"q" 日本'


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_json_files_compress_to_the_same_bytes(
    tmp_path: Path, data: list[pa.RecordBatch], fmt: str, compression: str
) -> None:
    plain = write(fmt, None, data)
    packed = tmp_path / packed_name(f"trades.{fmt}", compression)
    packed.write_bytes(write(fmt, compression, data))
    if compression == "gzip":
        subprocess.run(["gzip", "-t", str(packed)], check=True)
        assert gzip.decompress(packed.read_bytes()) == plain
        reader = "read_json_auto" if fmt == "json" else "read_json"
        count = duckdb.sql(f"SELECT count(*) FROM {reader}('{packed}')").fetchall()
        assert count == [(BATCHES * BATCH_ROWS,)]
    else:
        subprocess.run(["unzip", "-tq", str(packed)], check=True, capture_output=True)
        with zipfile.ZipFile(packed) as archive:
            assert archive.namelist() == [f"trades.{fmt}"]
            assert archive.read(f"trades.{fmt}") == plain


def test_names_follow_the_compression() -> None:
    assert packed_name("trades-20261202-ab12cd34.csv", "gzip") == "trades-20261202-ab12cd34.csv.gz"
    assert packed_name("t.jsonl", "zip") == "t.jsonl.zip"
    assert packed_name("t.json", None) == "t.json"


@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_an_aborted_file_writes_nothing_more(compression: str) -> None:
    sink = Unseekable()
    stream = Compressed(sink, compression, "t.csv", when=CREATED)  # type: ignore[arg-type]
    writer = CompressedWriter(open_writer("csv", stream, COLUMNS, SCHEMA), stream)  # type: ignore[arg-type]
    writer.write(batches(1)[0])
    writer.abort()
    sink.aborted = True
    del writer, stream
    gc.collect()  # a collected GzipFile or ZipFile would close itself: trailer, directory
    assert sink.writes_after_abort == 0


@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_memory_stays_flat_however_long_the_file(compression: str) -> None:
    """Python's allocations while 40 MB of CSV are compressed stay under 4 MiB: nothing
    holds the file, plain or compressed (the sink keeps only sizes here)."""

    class Counting:
        size = 0

        def write(self, data: bytes) -> int:
            self.size += len(data)
            return len(data)

        def flush(self) -> None:
            pass

    one = batches(1)[0]
    sink = Counting()
    tracemalloc.start()
    try:
        stream = Compressed(sink, compression, "t.csv", when=CREATED)  # type: ignore[arg-type]
        writer = CompressedWriter(open_writer("csv", stream, COLUMNS, SCHEMA), stream)  # type: ignore[arg-type]
        for _ in range(200):
            writer.write(one)
        writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stream.tell() > 40_000_000
    assert 0 < sink.size < stream.tell() / 3
    assert peak < 4 * 1024 * 1024, peak


def test_a_zip_member_is_zip64_from_the_start() -> None:
    """The member's header never has to be rewritten, so an unseekable sink takes a
    member of any size: sizes follow the data (flag bit 3) and the local header
    carries the ZIP64 extra field."""
    data = write("csv", "zip", batches(1))
    assert data[:4] == b"PK\x03\x04"
    assert int.from_bytes(data[6:8], "little") & 0x08  # a data descriptor follows
    assert data[18:26] == b"\xff" * 8  # sizes in the ZIP64 extra field
    name_len = int.from_bytes(data[26:28], "little")
    assert data[30 + name_len : 32 + name_len] == b"\x01\x00"  # the ZIP64 extra's id
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None


def test_a_member_name_never_has_a_directory() -> None:
    sink = Unseekable()
    stream = Compressed(sink, "zip", "../etc/x\\y.csv", when=CREATED)  # type: ignore[arg-type]
    stream.write(b"a\n")
    stream.finish()
    with zipfile.ZipFile(io.BytesIO(sink.value())) as archive:
        assert archive.namelist() == ["_etc_x_y.csv"]
