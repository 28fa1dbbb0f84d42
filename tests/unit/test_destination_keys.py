"""Destination key templates, secrets sealed at rest and configs: checked when saved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exportd.destinations.keys import KeyTemplateInvalid, KeyValues, check_template, render
from exportd.destinations.models import Kind, parse_config, parse_secret
from exportd.destinations.secrets import seal, unseal
from exportd.errors import RequestInvalid, TerminalJobError
from tests.support.sftp import new_key, private_text, public_line

VALUES = KeyValues(
    source="trades",
    format="csv",
    filename="trades-20261203-1a2b3c4d.csv.gz",
    export_id="1a2b3c4d" * 4,
    created_at=datetime(2026, 12, 3, 17, 45, 2, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("template", "key"),
    [
        ("{source}/{date}/{export_id}.{ext}", f"trades/2026-12-03/{'1a2b3c4d' * 4}.csv.gz"),
        (
            "daily/{year}/{month}/{day}/{time}-{filename}",
            "daily/2026/12/03/174502-trades-20261203-1a2b3c4d.csv.gz",
        ),
        ("latest.{format}", "latest.csv"),  # no id: each export replaces the last
    ],
)
def test_a_template_fills_in_the_exports_values(template: str, key: str) -> None:
    assert render(template, VALUES) == key


@pytest.mark.parametrize(
    "template",
    [
        "{owner}/{export_id}",  # not a variable
        "{source.__class__}",  # no attribute access
        "{source!r}",  # no conversion
        "{date:%Y}",  # no format spec
        "{source[0]}",  # no index
        "{}",  # no positional field
        "{source",  # unmatched brace
        "/{source}/{export_id}",  # absolute
        "../{export_id}",  # climbs out
        "a/./{export_id}",
        "a//{export_id}",
        "{source}/",  # an empty last segment: no file name
        "a\\{export_id}",
        "a\n{export_id}",
        "",
    ],
)
def test_a_template_that_names_no_variable_or_leaves_its_folder_is_refused(
    template: str,
) -> None:
    with pytest.raises(KeyTemplateInvalid):
        check_template(template)


def test_a_secret_opens_only_on_its_own_destination_with_the_same_key() -> None:
    sealed = seal(
        {"password": "hunter2"}, secret_key="k" * 32, destination_id="d1", owner_id="alice"
    )
    assert "hunter2" not in sealed
    assert sealed.startswith("v1.")
    assert unseal(sealed, secret_key="k" * 32, destination_id="d1", owner_id="alice") == {
        "password": "hunter2"
    }
    # Sealed twice, never the same bytes (a fresh nonce each time).
    assert sealed != seal(
        {"password": "hunter2"}, secret_key="k" * 32, destination_id="d1", owner_id="alice"
    )
    for wrong in (
        {"secret_key": "x" * 32, "destination_id": "d1", "owner_id": "alice"},  # key rotated
        {"secret_key": "k" * 32, "destination_id": "d2", "owner_id": "alice"},  # copied row
        {"secret_key": "k" * 32, "destination_id": "d1", "owner_id": "bob"},  # another owner
    ):
        with pytest.raises(TerminalJobError) as refused:
            unseal(sealed, **wrong)
        assert refused.value.code == "destination_secret_unreadable"
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(TerminalJobError):
        unseal(tampered, secret_key="k" * 32, destination_id="d1", owner_id="alice")


def test_an_sftp_config_pins_a_host_key_it_can_read() -> None:
    key = public_line(new_key())
    config = parse_config(
        Kind.SFTP, {"host": "sftp.example.com", "username": "u", "host_key": f"{key} me@laptop"}
    )
    assert config.host_key == key  # the comment is dropped
    known_hosts_line = f"sftp.example.com,203.0.113.5 {key}"
    assert (
        parse_config(
            Kind.SFTP, {"host": "h", "username": "u", "host_key": known_hosts_line}
        ).host_key
        == key
    )
    for bad in ("ssh-ed25519 notbase64!", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "hello"):
        with pytest.raises(RequestInvalid) as refused:
            parse_config(Kind.SFTP, {"host": "h", "username": "u", "host_key": bad})
        assert refused.value.code == "destination_config_invalid"
        assert refused.value.errors[0]["field"] == "config.host_key"


def test_a_bad_key_template_has_its_own_code() -> None:
    with pytest.raises(RequestInvalid) as refused:
        parse_config(Kind.S3, {"bucket": "my-bucket", "key_template": "{user}/{export_id}"})
    assert refused.value.code == "key_template_invalid"
    assert refused.value.errors[0]["field"] == "config.key_template"


def test_a_secret_is_checked_without_echoing_it() -> None:
    key = new_key()
    assert parse_secret(Kind.SFTP, {"private_key": private_text(key, "pw"), "passphrase": "pw"})
    for secret in (
        {},  # neither
        {"password": "hunter2", "private_key": private_text(key)},  # both
        {"private_key": private_text(key, "pw"), "passphrase": "wrong"},
        {"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nhunter2\n-----END OPENSSH"},
    ):
        with pytest.raises(RequestInvalid) as refused:
            parse_secret(Kind.SFTP, secret)
        assert refused.value.code == "destination_secret_invalid"
        assert "hunter2" not in repr(refused.value.errors)
        assert "wrong" not in repr(refused.value.errors)
    with pytest.raises(RequestInvalid) as refused:
        parse_secret(
            Kind.S3, {"access_key_id": "AKIA", "secret_access_key": "hunter2", "extra": "hunter2"}
        )
    assert "hunter2" not in repr(refused.value.errors)
