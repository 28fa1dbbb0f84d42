"""/v1/destinations: the store's rules over the real app, on SQLite and PostgreSQL; the
test endpoint against the customer's S3 server and a real SFTP server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import destinations
from tests.support.customer_s3 import CustomerS3
from tests.support.destinations import World, open_world
from tests.support.served import served
from tests.support.sftp import PASSWORD, SftpServer, new_key, private_text, public_line


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with open_world(settings, db, tmp_path) as opened:
        yield opened


def s3_body(customer_s3: CustomerS3, bucket: str, **config: Any) -> dict[str, Any]:
    return {
        "kind": "s3",
        "name": "Reports bucket",
        "config": customer_s3.config(bucket, **config),
        "secret": customer_s3.secret(),
    }


def test_a_destination_is_saved_and_shown_without_its_secret(
    world: World, customer_s3: CustomerS3
) -> None:
    body = s3_body(
        customer_s3, "any-bucket", prefix="/exports/", key_template="{source}/{filename}"
    )
    made = world.api.client.post("/v1/destinations", json=body, headers=world.headers())
    assert made.status_code == 201, made.text
    shown = made.json()
    assert made.headers["Location"] == f"/v1/destinations/{shown['id']}"
    assert shown["config"] == {
        "bucket": "any-bucket",
        "prefix": "exports",  # slashes trimmed
        "endpoint_url": customer_s3.endpoint,
        "addressing_style": "path",
        "key_template": "{source}/{filename}",
    }
    assert "secret" not in shown
    listed = world.api.client.get("/v1/destinations", headers=world.headers()).json()
    one = world.api.client.get(f"/v1/destinations/{shown['id']}", headers=world.headers()).json()
    for answer in (listed, one, shown):
        assert customer_s3.secret_access_key not in str(answer)
    # At rest: sealed, not the text.
    with world.db.read() as conn:
        stored = conn.execute(select(destinations.c.secret)).scalar_one()
    assert stored.startswith("v1.")
    assert customer_s3.secret_access_key not in stored


def test_another_users_destination_does_not_exist_for_them(world: World) -> None:
    key = public_line(new_key())
    config = {"host": "sftp.example.com", "username": "u", "host_key": key}
    mine = world.destination("sftp", config, {"password": "pw"})
    for method, path, body in (
        ("GET", f"/v1/destinations/{mine}", None),
        ("PATCH", f"/v1/destinations/{mine}", {"name": "taken over"}),
        ("DELETE", f"/v1/destinations/{mine}", None),
        ("POST", f"/v1/destinations/{mine}/test", None),
    ):
        answer = world.api.client.request(method, path, json=body, headers=world.headers("eve"))
        assert (answer.status_code, answer.json()["code"]) == (404, "destination_not_found")
    # Nor for an admin: a destination holds its owner's credentials.
    admin = world.headers("root", admin=True)
    answer = world.api.client.get(f"/v1/destinations/{mine}", headers=admin)
    assert answer.status_code == 404
    assert world.api.client.get("/v1/destinations", headers=world.headers("eve")).json() == []
    # An export naming it is refused for eve as if it did not exist.
    body = {"source": "trades", "format": "csv", "params": {}, "destinations": [mine, "nope"]}
    answer = world.api.client.post("/v1/exports", json=body, headers=world.headers("eve"))
    assert (answer.status_code, answer.json()["code"]) == (422, "destination_unknown")
    assert [e["field"] for e in answer.json()["errors"]] == ["destinations.0", "destinations.1"]


@pytest.mark.parametrize(
    ("config", "code", "field"),
    [
        ({"bucket": "B!"}, "destination_config_invalid", "config.bucket"),
        (
            {"bucket": "ok-bucket", "key_template": "{user}.csv"},
            "key_template_invalid",
            "config.key_template",
        ),
        (
            {"bucket": "ok-bucket", "region": "x", "color": "red"},
            "destination_config_invalid",
            "config.color",
        ),
        (
            {"bucket": "ok-bucket", "endpoint_url": "http://127.0.0.1:9000"},
            "destination_address_refused",
            "config.endpoint_url",
        ),
        (
            {"bucket": "ok-bucket", "endpoint_url": "http://[::ffff:10.0.0.1]"},
            "destination_address_refused",
            "config.endpoint_url",
        ),
        (
            {"bucket": "ok-bucket", "endpoint_url": "http://localhost:9000"},
            "destination_address_refused",
            "config.endpoint_url",
        ),
        (
            {"bucket": "ok-bucket", "endpoint_url": "http://user:pw@s3.example.com"},
            "destination_config_invalid",
            "config.endpoint_url",
        ),
    ],
)
def test_a_bad_config_or_a_private_host_is_refused_when_saved(
    world: World, config: dict[str, Any], code: str, field: str
) -> None:
    world.refuse_private()
    body = {
        "kind": "s3",
        "name": "n",
        "config": config,
        "secret": {"access_key_id": "a", "secret_access_key": "s"},
    }
    answer = world.api.client.post("/v1/destinations", json=body, headers=world.headers())
    assert (answer.status_code, answer.json()["code"]) == (422, code), answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_a_name_that_resolves_inside_is_refused_when_saved(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.refuse_private()
    real = socket.getaddrinfo

    def resolver(host: Any, *args: Any, **kw: Any) -> Any:
        if host == "files.customer.test":
            return real("169.254.169.254", *args, **kw)  # the cloud's metadata service
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    key = public_line(new_key())
    body = {
        "kind": "sftp",
        "name": "n",
        "config": {"host": "files.customer.test", "username": "u", "host_key": key},
        "secret": {"password": "pw"},
    }
    answer = world.api.client.post("/v1/destinations", json=body, headers=world.headers())
    assert (answer.status_code, answer.json()["code"]) == (422, "destination_address_refused")
    # A name that does not resolve yet is let through: it is checked at each connection.
    body["config"]["host"] = "not-yet.customer.test"
    assert (
        world.api.client.post("/v1/destinations", json=body, headers=world.headers()).status_code
        == 201
    )


def test_a_change_merges_config_replaces_the_secret_and_keeps_names_unique(
    world: World, sftp_server: SftpServer
) -> None:
    first = world.destination("sftp", sftp_server.config(), {"password": "wrong"}, name="Archive")
    second = world.destination("sftp", sftp_server.config(), {"password": PASSWORD}, name="Backup")
    path = f"/v1/destinations/{first}"
    taken = world.api.client.patch(path, json={"name": "Backup"}, headers=world.headers())
    assert (taken.status_code, taken.json()["code"]) == (409, "destination_name_taken")
    failed = world.api.client.post(f"{path}/test", headers=world.headers()).json()
    assert (failed["ok"], failed["code"]) == (False, "destination_auth_failed")
    changed = world.api.client.patch(
        path,
        json={"config": {"directory": "inbox/exports"}, "secret": {"password": PASSWORD}},
        headers=world.headers(),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["config"]["directory"] == "inbox/exports"
    assert changed.json()["config"]["host_key"] == sftp_server.host_key_line  # kept
    passed = world.api.client.post(f"{path}/test", headers=world.headers()).json()
    assert passed["ok"] is True, passed
    assert passed["location"].startswith(
        f"sftp://127.0.0.1:{sftp_server.port}/inbox/exports/.exportd-probe-"
    )
    assert sftp_server.files() == {}  # the probe was removed; the folder stays
    assert (sftp_server.root / "inbox" / "exports").is_dir()
    assert world.api.client.delete(path, headers=world.headers()).status_code == 204
    assert world.api.client.get(path, headers=world.headers()).status_code == 404
    assert [
        d["id"] for d in world.api.client.get("/v1/destinations", headers=world.headers()).json()
    ] == [second]


def test_the_test_says_what_is_wrong_with_an_s3_destination(
    world: World, customer_s3: CustomerS3
) -> None:
    bucket = customer_s3.new_bucket()
    good = world.destination("s3", customer_s3.config(bucket, prefix="in"), customer_s3.secret())
    result = world.api.client.post(f"/v1/destinations/{good}/test", headers=world.headers()).json()
    assert result["ok"] is True, result
    assert result["location"].startswith(f"s3://{bucket}/in/.exportd-probe-")
    assert customer_s3.objects(bucket) == {}  # written, then removed
    cases = {
        "destination_auth_failed": (
            customer_s3.config(bucket),
            customer_s3.secret(secret_access_key="wrong"),
        ),
        "destination_bucket_missing": (customer_s3.config("no-such-bucket"), customer_s3.secret()),
        "destination_unreachable": (
            {"bucket": bucket, "endpoint_url": f"http://127.0.0.1:{_closed_port()}"},
            customer_s3.secret(),
        ),
    }
    for code, (config, secret) in cases.items():
        destination = world.destination("s3", config, secret)
        result = world.api.client.post(
            f"/v1/destinations/{destination}/test", headers=world.headers()
        ).json()
        assert (result["ok"], result["code"]) == (False, code), result
        assert customer_s3.secret_access_key not in result["message"]


def test_the_test_refuses_a_host_key_that_is_not_the_pinned_one(
    world: World, sftp_server: SftpServer
) -> None:
    impostor = new_key()
    destination = world.destination(
        "sftp", sftp_server.config(host_key=public_line(impostor)), {"password": PASSWORD}
    )
    result = world.api.client.post(
        f"/v1/destinations/{destination}/test", headers=world.headers()
    ).json()
    assert (result["ok"], result["code"]) == (False, "destination_host_key_mismatch")
    # Both fingerprints named, so the customer can tell a changed server from an attack.
    assert sftp_server.host_key.get_fingerprint() in result["message"]
    assert impostor.get_fingerprint() in result["message"]
    assert sftp_server.logins == []  # refused before any credential was sent


def test_the_test_says_an_sftp_host_cannot_be_reached(
    world: World, sftp_server: SftpServer
) -> None:
    closed = _closed_port()
    destination = world.destination("sftp", sftp_server.config(port=closed), {"password": PASSWORD})
    answer = world.api.client.post(f"/v1/destinations/{destination}/test", headers=world.headers())
    assert answer.status_code == 200, answer.text  # the test ran: its finding is the answer
    result = answer.json()
    assert (result["ok"], result["code"], result["location"]) == (
        False,
        "destination_unreachable",
        None,
    )
    assert f"the SFTP server at 127.0.0.1:{closed} cannot be reached" in result["message"]
    assert PASSWORD not in result["message"]


def test_key_authentication_signs_in_with_the_sealed_key(
    world: World, sftp_server: SftpServer
) -> None:
    secret = {
        "private_key": private_text(sftp_server.client_key, "pass phrase"),
        "passphrase": "pass phrase",
    }
    destination = world.destination("sftp", sftp_server.config(username="bob"), secret)
    result = world.api.client.post(
        f"/v1/destinations/{destination}/test", headers=world.headers()
    ).json()
    assert result["ok"] is True, result
    assert set(sftp_server.logins) == {"bob"}
    stranger = {"private_key": private_text(new_key())}
    other = world.destination("sftp", sftp_server.config(username="bob"), stranger)
    result = world.api.client.post(f"/v1/destinations/{other}/test", headers=world.headers()).json()
    assert (result["ok"], result["code"]) == (False, "destination_auth_failed")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_command_line_lists_and_tests_destinations(
    world: World, sftp_server: SftpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from rich.console import Console
    from typer.testing import CliRunner

    from exportd import cli_destinations
    from exportd.cli_destinations import register

    monkeypatch.setattr(cli_destinations, "out", Console(width=200))  # a wide terminal

    app = typer.Typer()
    register(app)  # as cli.py's main() does
    good = world.destination("sftp", sftp_server.config(), {"password": PASSWORD}, name="Inbox")
    world.destination("sftp", sftp_server.config(), {"password": "nope"}, name="Locked")
    runner = CliRunner()
    token = world.api.token("bob", plan="pro")
    with served(world.api.client.app, lifespan="off") as url:  # type: ignore[arg-type]
        env = {"EXPORTD_URL": url, "EXPORTD_TOKEN": token}
        listed = runner.invoke(app, ["destinations", "list"], env=env)
        tested = runner.invoke(app, ["destinations", "test", "Inbox"], env=env)
        by_id = runner.invoke(app, ["destinations", "test", good], env=env)
        locked = runner.invoke(app, ["destinations", "test", "Locked"], env=env)
        unknown = runner.invoke(app, ["destinations", "test", "nowhere"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "Inbox" in listed.output
    assert f"sftp://alice@127.0.0.1:{sftp_server.port}/." in listed.output
    assert PASSWORD not in listed.output
    assert (tested.exit_code, by_id.exit_code) == (0, 0), tested.output
    assert "ok: wrote and removed sftp://127.0.0.1" in tested.output
    assert locked.exit_code == 1
    assert "failed: destination_auth_failed" in locked.output
    assert unknown.exit_code == 1
    assert "destination_not_found" in unknown.output


def test_the_page_adds_tests_and_delivers_to_a_destination(
    world: World, sftp_server: SftpServer
) -> None:
    client = world.api.client
    client.cookies.clear()
    token = world.api.token("bob", plan="pro")
    assert client.post(
        "/exports/sign-in", data={"token": token}, follow_redirects=False
    ).is_redirect
    page = client.get("/exports").text
    assert "No destinations yet" in page
    assert 'id="destination-choice"' in page
    assert 'name="destination"' not in page  # nothing to choose yet
    found = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page)
    assert found
    csrf = {"X-CSRF-Token": found.group(1)}
    form = {
        "name": "Partner SFTP",
        "kind": "sftp",
        "bucket": "",
        **{k: str(v) for k, v in sftp_server.config(directory="in").items()},
        "secret_password": PASSWORD,
    }
    refused = client.post("/exports/destinations", data={**form, "port": "twenty"}, headers=csrf)
    assert 'data-code="destination_config_invalid"' in refused.text
    assert "config.port" in refused.text
    added = client.post("/exports/destinations", data=form, headers=csrf)
    assert added.status_code == 200, added.text
    assert "Partner SFTP" in added.text
    assert f"sftp://alice@127.0.0.1:{sftp_server.port}/in" in added.text
    assert 'hx-swap-oob="outerHTML"' in added.text  # the export form's choice, refreshed
    assert PASSWORD not in added.text
    [destination] = world.api.client.get("/v1/destinations", headers=world.headers()).json()
    tested = client.post(f"/exports/destinations/{destination['id']}/test", headers=csrf)
    assert "Works: wrote and removed sftp://" in tested.text
    without_csrf = client.post("/exports/destinations", data={**form, "name": "Forged"})
    assert 'data-code="csrf_failed"' in without_csrf.text
    assert "Forged" not in str(
        world.api.client.get("/v1/destinations", headers=world.headers()).json()
    )

    chosen = {"source": "trades", "format": "csv", "col": ["symbol", "pnl"]}
    chosen["destination"] = destination["id"]
    created = client.post("/exports/new", data=chosen, headers=csrf)
    assert created.status_code == 200, created.text
    assert "Queued trades" in created.text, created.text
    world.run()
    [export] = world.api.client.get("/v1/exports", headers=world.headers()).json()["items"]
    [shown] = export["destinations"]
    assert (shown["id"], shown["status"]) == (destination["id"], "sent")
    assert list(sftp_server.files()) == [shown["remote_key"]]
    assert 'class="destination-where"' in client.get("/exports").text


def test_the_answer_to_an_export_names_its_destinations_before_any_delivery(
    world: World,
) -> None:
    key = public_line(new_key())
    config = {"host": "sftp.example.com", "username": "u", "host_key": key}
    inbox = world.destination("sftp", config, {"password": "pw"}, name="Inbox", user="bob")
    export_id = world.export(inbox)
    [shown] = world.get(export_id)["destinations"]
    assert (shown["id"], shown["name"], shown["kind"]) == (inbox, "Inbox", "sftp")
    assert shown["status"] == "pending"
