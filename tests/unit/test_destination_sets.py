"""Which files a delivery sends and under which keys (destinations/sets.py): one file, or
a split's whole set, manifest last, each file under the name its manifest lists."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from exportd.destinations.keys import KeyTemplateInvalid
from exportd.destinations.models import S3Config, SftpConfig
from exportd.destinations.sets import planned

EXPORT_ID = "1a2b3c4d" + "0" * 24
STEM = "trades-20261203-1a2b3c4d"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGkZ6n+9tGxqjUJu0YfXw2JrBqZ3bX0o4Wq5lq7h1Q3F"


def export(deliver: str = "parts") -> Any:
    names = [f"{STEM}-part{n:04d}.csv.gz" for n in (1, 2)]
    files = [{"name": n, "key": f"ours/{n}", "size": 10, "role": "part"} for n in names]
    files += [
        {"name": f"{STEM}.manifest.json", "key": "ours/m", "size": 3, "role": "manifest"},
        {"name": f"{STEM}.manifest.json.sig", "key": "ours/s", "size": 64, "role": "signature"},
    ]
    return SimpleNamespace(
        id=EXPORT_ID,
        source="trades",
        format="csv",
        created_at=datetime(2026, 12, 3, 17, 45, 2, tzinfo=UTC),
        result={
            "key": "ours/m",
            "filename": f"{STEM}.manifest.json",
            "size": 3,
            "split": {"rows": 100, "deliver": deliver, "parts": 2},
            "files": files,
        },
    )


def keys(template: str, **config: Any) -> list[str]:
    destination = S3Config(bucket="bkt", key_template=template, **config)
    return [p.remote_key for p in planned(destination, export())]


def test_the_default_template_names_the_sets_folder_and_the_manifest_goes_last() -> None:
    folder = f"in/trades/2026-12-03/{EXPORT_ID}"
    assert keys("{source}/{date}/{export_id}.{ext}", prefix="in") == [
        f"{folder}/{STEM}-part0001.csv.gz",
        f"{folder}/{STEM}-part0002.csv.gz",
        f"{folder}/{STEM}.manifest.json.sig",
        f"{folder}/{STEM}.manifest.json",
    ]


def test_a_filename_template_is_filled_in_per_file_with_its_own_ext() -> None:
    assert keys("{ext}/{filename}") == [
        f"csv.gz/{STEM}-part0001.csv.gz",
        f"csv.gz/{STEM}-part0002.csv.gz",
        f"manifest.json.sig/{STEM}.manifest.json.sig",
        f"manifest.json/{STEM}.manifest.json",
    ]


@pytest.mark.parametrize(
    ("template", "folder"),
    [("latest.{ext}", "latest/"), ("daily/{date}", "daily/2026-12-03/"), ("{ext}/x", "csv.gz/x/")],
)
def test_any_other_template_is_the_folder(template: str, folder: str) -> None:
    assert keys(template)[-1] == f"{folder}{STEM}.manifest.json"


def test_an_sftp_directory_holds_the_set() -> None:
    config = SftpConfig(
        host="h",
        username="u",
        host_key=HOST_KEY,
        directory="drop",
        key_template="{export_id}/{filename}",
    )
    sent = planned(config, export())
    assert [(p.storage_key, p.remote_key) for p in sent][-1] == (
        "ours/m",
        f"drop/{EXPORT_ID}/{STEM}.manifest.json",
    )


def test_a_zip_is_one_file() -> None:
    zipped = export("zip")
    zipped.result.update(key="ours/z", filename=f"{STEM}.parts.zip", size=99)
    [one] = planned(S3Config(bucket="bkt"), zipped)
    assert (one.storage_key, one.remote_key, one.size) == (
        "ours/z",
        f"trades/2026-12-03/{EXPORT_ID}.parts.zip",
        99,
    )


def test_keys_that_would_collide_are_refused() -> None:
    doubled = export()
    doubled.result["files"][1]["name"] = doubled.result["files"][0]["name"]
    config = S3Config(bucket="bkt", key_template="{filename}")
    with pytest.raises(KeyTemplateInvalid, match="same key"):
        planned(config, doubled)
