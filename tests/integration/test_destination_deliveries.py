"""Exports delivered to destinations: the customer's S3 server and a real SFTP server,
the jobs run in the test process; failures end in a dead letter an admin can retry.
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import deliveries, export_events
from exportd.destinations import s3 as s3_writer
from exportd.destinations.port import Reach
from exportd.exports.plans import plan_for, save_plan
from exportd.storage.local import LocalStorage
from tests.support.customer_s3 import CustomerS3
from tests.support.destinations import World, open_world
from tests.support.sftp import PASSWORD, SftpServer, new_key, public_line


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with open_world(settings, db, tmp_path) as opened:
        yield opened


def _card(world: World, export_id: str, user: str = "bob") -> str:
    """The export's card on the /exports page, as the user signed in sees it."""
    client = world.api.client
    client.cookies.clear()
    token = world.api.token(user, plan="pro")
    signed_in = client.post("/exports/sign-in", data={"token": token}, follow_redirects=False)
    assert signed_in.status_code == 303
    page = client.get("/exports").text
    start = page.index(f'id="export-{export_id}"')
    end = page.find('<li class="export ', start)
    return page[start : end if end != -1 else None]


def our_file(world: World, export: dict[str, Any]) -> bytes:
    storage = LocalStorage(Path(world.settings.storage_url.removeprefix("file://")))
    return b"".join(storage.read(export["result"]["key"]))


def test_a_completed_export_lands_in_the_customers_bucket_and_on_their_server(
    world: World, customer_s3: CustomerS3, sftp_server: SftpServer
) -> None:
    bucket = customer_s3.new_bucket()
    to_s3 = world.destination(
        "s3", customer_s3.config(bucket, prefix="exports"), customer_s3.secret()
    )
    to_sftp = world.destination(
        "sftp",
        sftp_server.config(directory="incoming", key_template="{source}-{date}.{ext}"),
        {"password": PASSWORD},
    )
    export_id = world.export(to_s3, to_sftp, options={"compression": "gzip"})
    pending = world.get(export_id)["destinations"]
    assert [(d["id"], d["status"]) for d in pending] == [(to_s3, "pending"), (to_sftp, "pending")]

    world.run()
    export = world.get(export_id)
    assert export["status"] == "completed"
    date = export["created_at"][:10]
    s3_key = f"exports/trades/{date}/{export_id}.csv.gz"
    sftp_path = f"incoming/trades-{date}.csv.gz"
    shown = {d["id"]: d for d in export["destinations"]}
    assert shown[to_s3] | {"delivery_id": None} == {
        "id": to_s3,
        "status": "sent",
        "name": shown[to_s3]["name"],
        "kind": "s3",
        "remote_key": s3_key,
        "files": 1,
        "error": None,
        "attempts": 1,
        "delivery_id": None,
    }
    assert (shown[to_sftp]["status"], shown[to_sftp]["remote_key"]) == ("sent", sftp_path)
    # The same bytes as the download, in both places; no temporary file left behind.
    data = our_file(world, export)
    assert customer_s3.objects(bucket) == {s3_key: data}
    assert sftp_server.files() == {sftp_path: data}
    with world.db.read() as conn:
        kinds = (
            conn.execute(select(export_events.c.kind).where(export_events.c.export_id == export_id))
            .scalars()
            .all()
        )
    assert kinds.count("destination_sent") == 2


def test_a_large_file_goes_up_in_parts(
    customer_s3: CustomerS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exportd.destinations.models import S3Config, S3Secret

    bucket = customer_s3.new_bucket()
    # 12 MiB in 1 MiB chunks: 8 MiB parts, so at most one part in memory, never the file.
    payload = (bytes([i]) * (1 << 20) for i in range(12))
    writer = s3_writer.S3Writer(
        S3Config(bucket=bucket, endpoint_url=customer_s3.endpoint),
        S3Secret(**customer_s3.secret()),
        reach=Reach(allow_private=True, timeout_s=10),
    )
    calls: list[str] = []
    original = writer._client

    def counting_client() -> Any:
        client = original()
        client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
        return client

    monkeypatch.setattr(writer, "_client", counting_client)
    writer.put(payload, "big/file.bin")
    head = customer_s3.client().head_object(Bucket=bucket, Key="big/file.bin")
    assert head["ContentLength"] == 12 << 20
    assert calls == [
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPart",
        "CompleteMultipartUpload",
    ]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong host key", "destination_host_key_mismatch"),
        ("bad password", "destination_auth_failed"),
        ("unreachable", "destination_unreachable"),
        ("s3 unreachable", "destination_unreachable"),
        ("bucket missing", "destination_bucket_missing"),
        ("bad s3 key", "destination_auth_failed"),
    ],
)
def test_a_failed_delivery_is_a_dead_letter_with_its_reason_and_an_admin_retries_it(
    world: World, customer_s3: CustomerS3, sftp_server: SftpServer, case: str, code: str
) -> None:
    bucket = customer_s3.new_bucket()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    broken, fixed = {
        "wrong host key": (
            ("sftp", sftp_server.config(host_key=public_line(new_key())), {"password": PASSWORD}),
            {"config": {"host_key": sftp_server.host_key_line}},
        ),
        "bad password": (
            ("sftp", sftp_server.config(), {"password": "nope"}),
            {"secret": {"password": PASSWORD}},
        ),
        "unreachable": (
            ("sftp", sftp_server.config(port=closed), {"password": PASSWORD}),
            {"config": {"port": sftp_server.port}},
        ),
        "s3 unreachable": (
            (
                "s3",
                customer_s3.config(bucket, endpoint_url=f"http://127.0.0.1:{closed}"),
                customer_s3.secret(),
            ),
            {"config": {"endpoint_url": customer_s3.endpoint}},
        ),
        "bucket missing": (
            ("s3", customer_s3.config("not-made-yet"), customer_s3.secret()),
            {"config": {"bucket": bucket}},
        ),
        "bad s3 key": (
            ("s3", customer_s3.config(bucket), customer_s3.secret(secret_access_key="nope")),
            {"secret": customer_s3.secret()},
        ),
    }[case]
    destination = world.destination(*broken)
    export_id = world.export(destination)
    world.run()

    [shown] = world.get(export_id)["destinations"]
    assert (shown["status"], shown["error"]["code"]) == ("failed", code)
    # Retrying cannot help a wrong key or password: dead at once; the unreachable host
    # was tried as often as deliveries are (EXPORTD_DELIVERY_ATTEMPTS=2 here).
    assert shown["attempts"] == (2 if code == "destination_unreachable" else 1)
    dead = world.api.client.get("/v1/deliveries/failed", headers=world.headers()).json()
    assert [(d["id"], d["channel"], d["target"]) for d in dead] == [
        (shown["delivery_id"], "destination", destination)
    ]
    assert dead[0]["error"]["code"] == code
    if code == "destination_unreachable":  # the reason names what could not be reached
        assert "cannot be reached" in dead[0]["error"]["message"], dead
    card = _card(world, export_id)
    assert f'<span class="reason" data-code="{code}">' in card

    # The customer fixes the destination; an admin sends the dead letter again.
    path = f"/v1/destinations/{destination}"
    assert world.api.client.patch(path, json=fixed, headers=world.headers()).status_code == 200
    admin = world.headers("root", admin=True)
    retried = world.api.client.post(f"/v1/deliveries/{shown['delivery_id']}/retry", headers=admin)
    assert retried.status_code == 202, retried.text
    assert world.get(export_id)["destinations"][0]["status"] == "pending"
    world.run()
    [shown] = world.get(export_id)["destinations"]
    assert (shown["status"], shown["error"]) == ("sent", None)
    assert world.api.client.get("/v1/deliveries/failed", headers=world.headers()).json() == []


def test_an_export_that_fails_sends_nothing_and_says_so(
    world: World, customer_s3: CustomerS3
) -> None:
    bucket = customer_s3.new_bucket()
    destination = world.destination("s3", customer_s3.config(bucket), customer_s3.secret())
    with world.db.write() as conn:  # fewer rows allowed than bob has: the export fails
        save_plan(conn, dataclasses.replace(plan_for(conn, "pro"), max_rows=10))
    export_id = world.export(destination)
    world.run()
    export = world.get(export_id)
    assert export["status"] == "failed"
    [shown] = export["destinations"]
    assert (shown["status"], shown["delivery_id"], shown["remote_key"]) == ("skipped", None, None)
    assert customer_s3.objects(bucket) == {}
    with world.db.read() as conn:
        assert conn.execute(select(deliveries)).all() == []


def test_a_deleted_destination_fails_its_delivery_as_not_found(
    world: World, sftp_server: SftpServer
) -> None:
    destination = world.destination("sftp", sftp_server.config(), {"password": PASSWORD})
    export_id = world.export(destination)
    world.api.client.delete(f"/v1/destinations/{destination}", headers=world.headers())
    world.run()
    [shown] = world.get(export_id)["destinations"]
    assert (shown["status"], shown["error"]["code"], shown["name"]) == (
        "failed",
        "destination_not_found",
        None,
    )
    assert sftp_server.files() == {}


def test_a_name_rebound_inside_after_it_was_saved_is_refused_when_delivering(
    world: World, customer_s3: CustomerS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = customer_s3.new_bucket()
    answers = {"s3.rebound.test": "93.184.215.14"}  # public when saved: never dialled
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def resolver(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host in answers:
            looked_up.append(host)
            return real(answers[host], port, *args, **kw)
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    world.refuse_private()
    config = customer_s3.config(bucket, endpoint_url=f"http://s3.rebound.test:{customer_s3.port}")
    destination = world.destination("s3", config, customer_s3.secret())
    # Then the name is rebound to loopback, where the customer's server happens to be.
    answers["s3.rebound.test"] = "127.0.0.1"
    export_id = world.export(destination)
    world.run()
    [shown] = world.get(export_id)["destinations"]
    assert (shown["status"], shown["error"]["code"]) == ("failed", "destination_address_refused")
    assert customer_s3.objects(bucket) == {}


def test_every_connection_goes_to_the_address_that_was_checked(
    customer_s3: CustomerS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once per connection and the socket goes to that answer: a
    rebinding between the up-front check and boto3's connection is caught too."""
    from exportd.destinations.models import S3Config, S3Secret
    from exportd.errors import TerminalJobError

    bucket = customer_s3.new_bucket()
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"] * 50)
    looked_up: list[str] = []

    def resolver(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host == "s3.customer.test":
            looked_up.append(host)
            return real(next(answers), port, *args, **kw)
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    config = S3Config(bucket=bucket, endpoint_url=f"http://s3.customer.test:{customer_s3.port}")
    secret = S3Secret(**customer_s3.secret())
    # Allowed to go private: the name (which no DNS knows) reaches the server through the
    # pinned address, so every connection used our resolver's answer.
    s3_writer.S3Writer(config, secret, reach=Reach(allow_private=True, timeout_s=5)).put(
        [b"pinned"], "a/b.txt"
    )
    assert customer_s3.objects(bucket) == {"a/b.txt": b"pinned"}
    assert looked_up  # boto3 itself never resolved the name (it could not have)
    # Public at the up-front check, loopback when boto3 connects: refused.
    looked_up.clear()
    answers = iter(["93.184.215.14"] + ["127.0.0.1"] * 50)
    writer = s3_writer.S3Writer(config, secret, reach=Reach(allow_private=False, timeout_s=5))
    with pytest.raises(TerminalJobError) as refused:
        writer.put([b"x"], "c.txt")
    assert refused.value.code == "destination_address_refused"
    assert len(looked_up) >= 2
    assert "c.txt" not in customer_s3.objects(bucket)


def test_a_delivery_row_names_its_destination(world: World, sftp_server: SftpServer) -> None:
    destination = world.destination("sftp", sftp_server.config(), {"password": PASSWORD})
    export_id = world.export(destination)
    world.run()
    with world.db.read() as conn:
        [row] = conn.execute(select(deliveries).where(deliveries.c.export_id == export_id)).all()
    assert (row.channel, row.event, row.target, row.status) == (
        "destination",
        "export.completed",
        destination,
        "sent",
    )


def test_the_environments_proxy_and_endpoint_are_not_the_customers(
    customer_s3: CustomerS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would resolve the name itself (the guard would check the proxy), and the
    operator's AWS_ENDPOINT_URL is not where the customer's bucket is."""
    from exportd.destinations.models import S3Config, S3Secret

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{s.getsockname()[1]}"
    bucket = customer_s3.new_bucket()
    writer = s3_writer.S3Writer(
        S3Config(bucket=bucket, endpoint_url=customer_s3.endpoint),
        S3Secret(**customer_s3.secret()),
        reach=Reach(allow_private=True, timeout_s=5),
    )
    with monkeypatch.context() as env:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_ENDPOINT_URL"):
            env.setenv(name, nowhere)
        env.delenv("NO_PROXY", raising=False)
        env.delenv("no_proxy", raising=False)
        writer.put([b"direct"], "direct.txt")
    assert customer_s3.objects(bucket) == {"direct.txt": b"direct"}
