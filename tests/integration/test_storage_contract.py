"""One contract for every storage backend: the local directory and S3 (moto on loopback)."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from exportd.errors import StorageError
from exportd.storage import Storage, open_storage
from exportd.storage.s3 import S3Storage, s3_client

BACKENDS = ["local", "s3"]
MiB = 1 << 20


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return open_storage(f"file://{tmp_path / 'files'}")
    endpoint = request.getfixturevalue("s3_endpoint")
    return open_storage(request.getfixturevalue("s3_url"), s3_endpoint_url=endpoint)


def write(storage: Storage, key: str, data: bytes, *, chunk: int = 1 << 16) -> None:
    with storage.writer(key) as sink:
        for offset in range(0, len(data), chunk):
            sink.write(data[offset : offset + chunk])


def test_written_bytes_read_back_whole_and_by_range(storage: Storage) -> None:
    data = bytes(range(256)) * 1000
    write(storage, "alice/e1/1/trades.csv", data)
    assert storage.size("alice/e1/1/trades.csv") == len(data)
    assert b"".join(storage.read("alice/e1/1/trades.csv")) == data
    assert b"".join(storage.read("alice/e1/1/trades.csv", start=10, end=20)) == data[10:20]
    assert b"".join(storage.read("alice/e1/1/trades.csv", start=len(data) - 5)) == data[-5:]


def test_a_large_file_goes_up_in_parts_and_arrives_whole(storage: Storage) -> None:
    data = (b"0123456789abcdef" * (MiB // 16)) * 19  # 19 MiB: three parts on S3
    write(storage, "big/e/1/big.bin", data, chunk=MiB)
    assert storage.size("big/e/1/big.bin") == len(data)
    assert b"".join(storage.read("big/e/1/big.bin")) == data


def _write_then_break(storage: Storage, key: str) -> None:
    with storage.writer(key) as sink:
        sink.write(b"half a file" * (MiB // 4))
        raise RuntimeError("the source broke")


def test_a_failed_write_leaves_nothing_behind(storage: Storage) -> None:
    with pytest.raises(RuntimeError):
        _write_then_break(storage, "bob/e2/1/x.csv")
    assert storage.size("bob/e2/1/x.csv") is None
    assert list(storage.keys(older_than_s=-60)) == []


def test_delete_is_idempotent(storage: Storage) -> None:
    write(storage, "carol/e/1/f.json", b"[]")
    storage.delete("carol/e/1/f.json")
    storage.delete("carol/e/1/f.json")
    assert storage.size("carol/e/1/f.json") is None


def test_keys_lists_only_files_older_than_asked(storage: Storage) -> None:
    write(storage, "a/1/1/one.csv", b"1")
    write(storage, "b/2/1/two.csv", b"2")
    assert sorted(storage.keys(older_than_s=-60)) == ["a/1/1/one.csv", "b/2/1/two.csv"]
    assert list(storage.keys(older_than_s=3600)) == []


@pytest.mark.parametrize("key", ["", "/abs", "../up", "a/../../b", "a//b", "a\\b", "."])
def test_keys_that_climb_out_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(StorageError) as raised:
        write(storage, key, b"x")
    assert raised.value.code == "storage_key_invalid"


def test_probe_passes_on_a_writable_store(storage: Storage) -> None:
    storage.probe()
    assert list(storage.keys(older_than_s=-60)) == []


def test_an_unreachable_store_fails_with_a_storage_error(s3_endpoint: str) -> None:
    missing = S3Storage(s3_client(s3_endpoint, None), f"no-such-bucket-{time.time_ns()}")
    with pytest.raises(StorageError) as raised:
        missing.probe()
    assert "NoSuchBucket" in raised.value.message
    assert raised.value.retryable


def test_local_files_are_served_from_disk_and_s3_through_a_presigned_link(
    storage: Storage,
) -> None:
    write(storage, "dana/e/1/résumé.csv", b"a,b\n1,2\n")
    link = storage.link(
        "dana/e/1/résumé.csv", filename="résumé.csv", content_type="text/csv", ttl_s=60
    )
    if storage.local_path("dana/e/1/résumé.csv") is not None:
        assert link is None
        return
    assert link is not None
    with urllib.request.urlopen(link) as answer:
        assert answer.read() == b"a,b\n1,2\n"
        assert answer.headers["Content-Type"] == "text/csv"
        assert "filename*=UTF-8''r%C3%A9sum%C3%A9.csv" in answer.headers["Content-Disposition"]
