"""A split delivered as parts reaches each destination whole: every part, the manifest's
signature and the manifest (last), each under its own name so ``exportd verify`` checks
the set where it landed.  A set cut short is never shown as sent, and sending it again
replaces what was there (no second copy).  The customer's S3 server and a real SFTP
server; the jobs run in the test process.  SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from exportd import cli_verify
from exportd.config import Settings, load_settings
from exportd.db import Database
from tests.support.customer_s3 import CustomerS3
from tests.support.destinations import World, open_world
from tests.support.sftp import PASSWORD, SftpServer

SPLIT = {"split": {"rows": 50, "deliver": "parts"}, "compression": "gzip"}  # 120 rows: 3


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    changed = settings.model_copy(update={"split_min_rows": 10})
    with open_world(changed, db, tmp_path) as opened:
        yield opened


def verify(folder: Path, manifest: str, keys: dict[str, Any]) -> tuple[int, str]:
    app = typer.Typer()
    cli_verify.register(app, load_settings)
    app.command("noop")(lambda: None)
    (folder.parent / "keys.json").write_text(json.dumps(keys))
    done = CliRunner().invoke(
        app, ["verify", str(folder / manifest), "--key", str(folder.parent / "keys.json")]
    )
    return done.exit_code, done.output


def test_every_file_of_the_set_lands_under_its_own_name(
    world: World, customer_s3: CustomerS3, sftp_server: SftpServer, tmp_path: Path
) -> None:
    bucket = customer_s3.new_bucket()
    to_s3 = world.destination("s3", customer_s3.config(bucket, prefix="in"), customer_s3.secret())
    to_sftp = world.destination(
        "sftp",
        sftp_server.config(directory="drop", key_template="{year}/{export_id}/{filename}"),
        {"password": PASSWORD},
    )
    export_id = world.export(to_s3, to_sftp, options=SPLIT)
    world.run()
    export = world.get(export_id)
    assert export["status"] == "completed", export["error"]
    files = world.api.client.get(export["links"]["files"], headers=world.headers()).json()
    names = [f["name"] for f in files["files"]]
    manifest = export["result"]["filename"]
    assert manifest.endswith(".manifest.json")
    assert len(names) == 5  # 3 parts, the manifest and its signature
    date = export["created_at"][:10]
    shown = {d["id"]: d for d in export["destinations"]}
    # The default template names the set's folder; {filename} places each file.
    s3_folder = f"in/trades/{date}/{export_id}"
    sftp_folder = f"drop/{date[:4]}/{export_id}"
    assert (shown[to_s3]["status"], shown[to_s3]["files"]) == ("sent", 5)
    assert shown[to_s3]["remote_key"] == f"{s3_folder}/{manifest}"
    assert (shown[to_sftp]["status"], shown[to_sftp]["files"]) == ("sent", 5)
    assert shown[to_sftp]["remote_key"] == f"{sftp_folder}/{manifest}"

    ours = {
        f["name"]: world.api.client.get(f["download"], headers=world.headers()).content
        for f in files["files"]
    }
    assert customer_s3.objects(bucket) == {f"{s3_folder}/{n}": ours[n] for n in names}
    assert sftp_server.files() == {f"{sftp_folder}/{n}": ours[n] for n in names}
    keys = world.api.client.get("/.well-known/exportd-manifest-keys").json()
    landed = sftp_server.root / sftp_folder
    code, output = verify(landed, manifest, keys)
    assert code == 0, output
    assert "verified: 3 parts, 120 rows" in output


def test_a_set_cut_short_is_not_sent_and_sending_it_again_replaces_it(
    world: World, sftp_server: SftpServer, tmp_path: Path
) -> None:
    export_id, stem = _split_to_sftp(world, sftp_server)
    # A folder where the manifest goes: the server refuses to put the manifest there.
    blocker = sftp_server.root / export_id / f"{stem}.manifest.json"
    blocker.mkdir(parents=True)
    world.run()

    export = world.get(export_id)
    [shown] = export["destinations"]
    assert shown["status"] == "failed", shown
    assert shown["error"]["code"] == "destination_unavailable"
    assert shown["attempts"] == 2  # sent twice (EXPORTD_DELIVERY_ATTEMPTS=2 here)
    landed = sorted(sftp_server.files())
    # The parts and the signature, once each, though sent twice; no manifest, no temp file.
    parts = [f"{export_id}/{stem}-part{n:04d}.csv.gz" for n in (1, 2, 3)]
    assert landed == [*parts, f"{export_id}/{stem}.manifest.json.sig"]
    dead = world.api.client.get("/v1/deliveries/failed", headers=world.headers()).json()
    assert [d["id"] for d in dead] == [shown["delivery_id"]]

    blocker.rmdir()
    admin = world.headers("root", admin=True)
    retried = world.api.client.post(f"/v1/deliveries/{shown['delivery_id']}/retry", headers=admin)
    assert retried.status_code == 202, retried.text
    world.run()
    [shown] = world.get(export_id)["destinations"]
    assert (shown["status"], shown["files"], shown["error"]) == ("sent", 5, None)
    assert len(sftp_server.files()) == 5
    code, output = verify(sftp_server.root / export_id, f"{stem}.manifest.json", _keys(world))
    assert code == 0, output


def test_temporary_files_a_crashed_send_left_are_removed_by_the_next_send(
    world: World, sftp_server: SftpServer
) -> None:
    export_id, stem = _split_to_sftp(world, sftp_server)
    folder = sftp_server.root / export_id
    folder.mkdir()
    # What a worker SIGKILLed mid-write leaves: half a part under its temporary name.
    (folder / f".{stem}-part0002.csv.gz.0123456789ab.part").write_bytes(b"half a part")
    # Not ours to remove: the customer's own file, and a temporary name of another file.
    (folder / ".keep").write_bytes(b"")
    (folder / ".report.csv.0123456789ab.part").write_bytes(b"someone else's")
    world.run()

    [shown] = world.get(export_id)["destinations"]
    assert (shown["status"], shown["files"]) == ("sent", 5), shown
    landed = sorted(sftp_server.files())
    assert [p for p in landed if p.rsplit("/", 1)[1].startswith(".")] == [
        f"{export_id}/.keep",
        f"{export_id}/.report.csv.0123456789ab.part",
    ]
    assert len(landed) == 5 + 2


def _split_to_sftp(world: World, sftp_server: SftpServer) -> tuple[str, str]:
    """A split export to the server, not run yet: its id and its files' stem."""
    destination = world.destination(
        "sftp", sftp_server.config(key_template="{export_id}/{filename}"), {"password": PASSWORD}
    )
    export_id = world.export(destination, options=SPLIT)
    export = world.get(export_id)
    return export_id, f"trades-{export['created_at'][:10].replace('-', '')}-{export_id[:8]}"


def _keys(world: World) -> dict[str, Any]:
    return dict(world.api.client.get("/.well-known/exportd-manifest-keys").json())
