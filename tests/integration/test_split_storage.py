"""Split exports on S3 (moto's server on loopback): each part its own object, or one
zip; the objects are exactly the result's keys, their bytes the manifest's, and an
export that fails midway leaves no object (completed parts deleted, the open one's
multipart upload aborted)."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from exportd.exports.artifacts import stored_keys
from exportd.exports.verify import FolderBundle, verify
from exportd.storage import Storage, open_storage
from tests.support.split import KEY, write_split

ROWS = 10_000


@pytest.fixture
def storage(s3_url: str, s3_endpoint: str) -> Storage:
    return open_storage(s3_url, s3_endpoint_url=s3_endpoint)


def objects(storage: Storage) -> list[str]:
    return sorted(storage.keys(older_than_s=-3600))


def test_parts_are_objects_of_their_own_and_verify(storage: Storage, tmp_path: Path) -> None:
    options = {"compression": "gzip", "split": {"rows": 3_000, "deliver": "parts"}}
    written = write_split(tmp_path, "csv", options, ROWS, storage=storage)
    keys = stored_keys(written.result)
    assert sorted(keys) == objects(storage)
    assert len(keys) == 6  # 4 parts, the manifest and its signature
    folder = tmp_path / "downloaded"
    folder.mkdir()
    for f in written.result["files"]:
        data = b"".join(storage.read(f["key"]))
        assert len(data) == f["size"] == storage.size(f["key"])
        if "sha256" in f:
            assert hashlib.sha256(data).hexdigest() == f["sha256"]
        (folder / f["name"]).write_bytes(data)
    report = verify(FolderBundle(folder / written.result["filename"]), [KEY.public])
    assert report.ok, report.findings
    for key in keys:  # what cleanup does with an expired export
        storage.delete(key)
    assert objects(storage) == []


def test_the_zip_is_one_object(storage: Storage, tmp_path: Path) -> None:
    written = write_split(
        tmp_path, "jsonl", {"split": {"rows": 4_000, "deliver": "zip"}}, ROWS, storage=storage
    )
    assert objects(storage) == [written.result["key"]]
    saved = tmp_path / written.result["filename"]
    saved.write_bytes(b"".join(storage.read(written.result["key"])))
    assert subprocess.run(["unzip", "-tq", str(saved)], check=False).returncode == 0
    with zipfile.ZipFile(saved) as archive:
        assert len(archive.namelist()) == 5


@pytest.mark.parametrize("deliver", ["zip", "parts"])
def test_a_failed_export_leaves_no_object(storage: Storage, tmp_path: Path, deliver: str) -> None:
    with pytest.raises(RuntimeError):
        write_split(
            tmp_path,
            "csv",
            {"split": {"rows": 1_000, "deliver": deliver}},
            ROWS,
            batch_rows=500,
            fail_after=7,
            storage=storage,
        )
    assert objects(storage) == []
