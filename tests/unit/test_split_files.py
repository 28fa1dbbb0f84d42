"""Split exports (``options.split``) as the worker writes them: parts read back by DuckDB,
polars and openpyxl add up to the source's rows (each row exactly once, a header in every
CSV part), the zip passes ``unzip -t``, the manifest is signed, and an export that does
not end well leaves no part behind."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from exportd.errors import TerminalJobError
from exportd.exports.manifest import parse
from tests.support.split import CREATED, EXPORT_ID, KEY, Written, write_split

ROWS = 10_000
HEADER = '"id","Symbol","P&L","Opened"'  # pyarrow quotes every header


def unzipped(written: Written, into: Path) -> dict[str, Path]:
    tested = subprocess.run(["unzip", "-t", str(written.main)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "No errors detected" in tested.stdout
    with zipfile.ZipFile(written.main) as archive:
        archive.extractall(into)
        return {name: into / name for name in archive.namelist()}


def part_paths(written: Written, folder: Path) -> list[Path]:
    manifest = json.loads((folder / manifest_name(written)).read_bytes())
    return [folder / p["name"] for p in manifest["parts"]]


def manifest_name(written: Written) -> str:
    return "manifest.json" if written.result["split"]["deliver"] == "zip" else written.main.name


def every_row_once(reader: str, paths: list[Path], rows: int = ROWS) -> None:
    """DuckDB reads the parts as one table: each source row is there exactly once."""
    files = ", ".join(f"'{p}'" for p in paths)
    query = f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM {reader}([{files}])"
    assert duckdb.sql(query).fetchall() == [(rows, rows, 0, rows - 1)]


def count_rows(reader: str, path: Path) -> int:
    return int(duckdb.sql(f"SELECT count(*) FROM {reader}('{path}')").fetchall()[0][0])


def test_csv_parts_in_one_zip_hold_every_row_once_each_with_its_header(tmp_path: Path) -> None:
    written = write_split(
        tmp_path / "store", "csv", {"split": {"rows": 3_000, "deliver": "zip"}}, ROWS
    )
    result = written.result
    assert result["filename"] == "trades-20261202-ab12cd34.parts.zip"
    assert result["content_type"] == "application/zip"
    assert result["split"] == {"rows": 3_000, "deliver": "zip", "parts": 4}
    assert result["size"] == written.main.stat().st_size
    assert result["sha256"] == hashlib.sha256(written.main.read_bytes()).hexdigest()
    files = unzipped(written, tmp_path / "out")
    parts = [f"trades-20261202-ab12cd34-part000{n}.csv" for n in (1, 2, 3, 4)]
    assert list(files) == [*parts, "manifest.json", "manifest.json.sig"]
    with zipfile.ZipFile(written.main) as archive:  # asked for no compression: stored
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
        # What unzip gives each file (Python's extractall ignores it: the umask decides).
        assert {(i.external_attr >> 16) & 0o777 for i in archive.infolist()} == {0o644}
    lines = [files[p].read_text().splitlines() for p in parts]
    assert all(part[0] == HEADER for part in lines)  # a header in every part
    every_row_once("read_csv", [files[p] for p in parts])
    heights = [pl.read_csv(files[p]).height for p in parts]
    assert heights == [3_000, 3_000, 3_000, 1_000]
    assert pl.concat([pl.read_csv(files[p]) for p in parts])["id"].to_list() == list(range(ROWS))
    manifest = parse(files["manifest.json"].read_bytes())
    assert [(p.name, p.rows) for p in manifest.parts] == list(zip(parts, heights, strict=True))
    for part in manifest.parts:
        data = files[part.name].read_bytes()
        assert (part.size, part.sha256) == (len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
def test_parts_of_each_format_read_back_with_duckdb(tmp_path: Path, fmt: str) -> None:
    written = write_split(
        tmp_path / "store", fmt, {"split": {"rows": 4_000, "deliver": "parts"}}, ROWS
    )
    folder = written.main.parent
    parts = part_paths(written, folder)
    assert [p.name for p in parts] == [
        f"trades-20261202-ab12cd34-part000{n}.{fmt}" for n in (1, 2, 3)
    ]
    reader = "read_parquet" if fmt == "parquet" else "read_json"
    assert [count_rows(reader, p) for p in parts] == [4_000, 4_000, 2_000]
    every_row_once(reader, parts)
    if fmt == "parquet":
        assert pl.read_parquet(parts[0]).columns == ["id", "Symbol", "P&L", "Opened"]


def test_xlsx_parts_are_workbooks_of_their_rows(tmp_path: Path) -> None:
    written = write_split(
        tmp_path / "store", "xlsx", {"split": {"rows": 2_500, "deliver": "zip"}}, 6_000
    )
    files = unzipped(written, tmp_path / "out")
    ids = []
    for name in [n for n in files if n.endswith(".xlsx")]:
        book = openpyxl.load_workbook(files[name], read_only=True)
        rows = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
        book.close()
        assert rows[0] == ("id", "Symbol", "P&L", "Opened")
        ids += [r[0] for r in rows[1:]]
    assert ids == list(range(6_000))
    assert written.result["split"]["parts"] == 3


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_bytes_split_fills_each_part_to_its_size(tmp_path: Path, fmt: str) -> None:
    limit = 150_000 if fmt == "csv" else 80_000
    rows = 40_000 if fmt == "csv" else 150_000
    written = write_split(
        tmp_path / "store", fmt, {"split": {"bytes": limit, "deliver": "parts"}}, rows
    )
    parts = part_paths(written, written.main.parent)
    sizes = [p.stat().st_size for p in parts]
    assert len(parts) >= 3
    # Each part but the last reached the size, and went past it by little: the last slice
    # (sized from the bytes per row so far) and the file's end (a Parquet footer, whose
    # writer stores a row group of 32,768 rows at a time).
    slack = 0.05 * limit if fmt == "csv" else 0.15 * limit
    assert all(limit <= s <= limit + slack for s in sizes[:-1]), sizes
    assert sizes[-1] <= limit + slack
    every_row_once("read_csv" if fmt == "csv" else "read_parquet", parts, rows)


def test_gzip_parts_are_stored_in_the_zip_and_duckdb_reads_them(tmp_path: Path) -> None:
    options = {"compression": "gzip", "split": {"rows": 3_000, "deliver": "zip"}}
    written = write_split(tmp_path / "store", "csv", options, ROWS)
    assert written.result["compression"] == "gzip"
    files = unzipped(written, tmp_path / "out")
    parts = [files[n] for n in files if n.endswith(".csv.gz")]
    assert len(parts) == 4
    with zipfile.ZipFile(written.main) as archive:
        assert archive.getinfo(parts[0].name).compress_type == zipfile.ZIP_STORED
    for part in parts:
        subprocess.run(["gzip", "-t", str(part)], check=True)
        assert gzip.decompress(part.read_bytes()).decode().startswith(HEADER + "\n")
    every_row_once("read_csv", parts)
    manifest = parse(files["manifest.json"].read_bytes())  # of the .gz files as they are
    assert manifest.parts[0].sha256 == hashlib.sha256(parts[0].read_bytes()).hexdigest()


def test_zip_compression_deflates_the_members_instead(tmp_path: Path) -> None:
    options = {"compression": "zip", "split": {"rows": 3_000, "deliver": "zip"}}
    packed = write_split(tmp_path / "packed", "csv", options, ROWS)
    plain = write_split(tmp_path / "plain", "csv", {"split": options["split"]}, ROWS)
    assert packed.main.stat().st_size < plain.main.stat().st_size / 2
    files = unzipped(packed, tmp_path / "out")
    with zipfile.ZipFile(packed.main) as archive:
        assert archive.getinfo("trades-20261202-ab12cd34-part0001.csv").compress_type == (
            zipfile.ZIP_DEFLATED
        )
    every_row_once("read_csv", [p for n, p in files.items() if n.endswith(".csv")])


def test_gzip_parts_delivered_as_parts_are_gz_files(tmp_path: Path) -> None:
    options = {"compression": "gzip", "split": {"rows": 5_000, "deliver": "parts"}}
    written = write_split(tmp_path / "store", "jsonl", options, ROWS)
    files = written.result["files"]
    assert [f["role"] for f in files] == ["part", "part", "manifest", "signature"]
    assert files[0]["name"].endswith("-part0001.jsonl.gz")
    assert files[0]["content_type"] == "application/gzip"
    for f in files:
        data = written.path(f["key"]).read_bytes()
        assert len(data) == f["size"]
        if "sha256" in f:
            assert hashlib.sha256(data).hexdigest() == f["sha256"]
    assert written.result["stored_bytes"] == sum(f["size"] for f in files)
    assert written.result["key"] == files[2]["key"]  # the main download is the manifest
    every_row_once("read_json", [written.path(f["key"]) for f in files[:2]])


def test_an_export_without_rows_is_one_part_with_its_header(tmp_path: Path) -> None:
    written = write_split(
        tmp_path / "store", "csv", {"split": {"rows": 1_000, "deliver": "zip"}}, 0
    )
    files = unzipped(written, tmp_path / "out")
    (part,) = [p for n, p in files.items() if n.endswith(".csv")]
    assert part.read_text() == HEADER + "\n"
    assert parse(files["manifest.json"].read_bytes()).rows == 0


def test_the_manifest_names_the_export_and_is_signed(tmp_path: Path) -> None:
    options = {"timezone": "Europe/Paris", "split": {"rows": 4_000, "deliver": "zip"}}
    written = write_split(tmp_path / "store", "csv", options, ROWS)
    files = unzipped(written, tmp_path / "out")
    data = files["manifest.json"].read_bytes()
    document = json.loads(data)
    assert document["export_id"] == EXPORT_ID
    assert (document["format"], document["source"]) == ("csv", "trades")
    assert document["options"] == options
    assert document["created_at"] == "2026-12-02T09:15:30Z" == document["signed_at"]
    assert CREATED.year == 2026
    assert (document["rows"], len(document["parts"])) == (ROWS, 3)
    assert document["signing_key"] == KEY.public.kid == written.result["signing_key"]
    signature = files["manifest.json.sig"].read_bytes()
    assert len(signature) == 64
    assert KEY.public.verifies(signature, data)
    assert not KEY.public.verifies(signature, data.replace(b'"rows": 4000', b'"rows": 4001'))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
def test_openssl_checks_the_detached_signature(tmp_path: Path) -> None:
    """The signature is over the file's bytes as they are: a stock Ed25519 tool checks
    it, with no exportd code and no JSON canonicalisation."""
    from cryptography.hazmat.primitives import serialization

    written = write_split(
        tmp_path / "store", "csv", {"split": {"rows": 4_000, "deliver": "zip"}}, ROWS
    )
    files = unzipped(written, tmp_path / "out")
    public = tmp_path / "public.pem"
    public.write_bytes(
        KEY.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    def openssl(manifest: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin",
             "-in", str(manifest), "-sigfile", str(files["manifest.json.sig"])],
            capture_output=True, text=True,
        )  # fmt: skip

    checked = openssl(files["manifest.json"])
    if "rawin" in checked.stderr and checked.returncode:
        pytest.skip(f"this openssl cannot verify Ed25519 raw input: {checked.stderr}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Signature Verified Successfully" in checked.stdout
    changed = tmp_path / "changed.json"
    changed.write_bytes(files["manifest.json"].read_bytes().replace(b"4000", b"4001", 1))
    assert openssl(changed).returncode != 0


@pytest.mark.parametrize("deliver", ["zip", "parts"])
def test_a_failed_export_leaves_no_part_behind(tmp_path: Path, deliver: str) -> None:
    store = tmp_path / "store"
    with pytest.raises(RuntimeError, match="went away"):
        write_split(
            store,
            "csv",
            {"split": {"rows": 1_000, "deliver": deliver}},
            ROWS,
            batch_rows=500,
            fail_after=7,
        )
    assert [p for p in store.rglob("*") if p.is_file()] == []


def test_more_parts_than_allowed_fail_the_export_and_store_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with pytest.raises(TerminalJobError) as refused:
        write_split(store, "csv", {"split": {"rows": 1_000, "deliver": "parts"}}, ROWS, max_parts=3)
    assert refused.value.code == "split_too_many_parts"
    assert "more than 3 parts" in refused.value.message
    assert [p for p in store.rglob("*") if p.is_file()] == []
