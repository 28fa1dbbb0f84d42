"""`exportd exports …` and `exportd export` in the test process (Typer's runner) against
the real app on a loopback port: short ids, the file options, presets and notifications
as flags, and refusals that name the flag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from exportd.cli_client import register
from exportd.config import Settings, load_settings
from exportd.db import Database
from tests.support.artifacts import CONTENT, World, completed_export, world_for
from tests.support.export_ids import choose_ids
from tests.support.served import served

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

cli = typer.Typer()
register(cli)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Mail is configured (nothing is sent: no worker runs), so --notify email is taken.
    return load_settings(database_url=database_url, smtp_url="smtp://127.0.0.1:2525")


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(settings, db, tmp_path) as w:
        yield w


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)
    with served(world.api.client.app, lifespan="off") as url:  # type: ignore[arg-type]

        def invoke(*args: str, user: str = "alice", **claims: Any) -> Result:
            token = world.api.token(user, plan="pro", **claims)
            return CliRunner().invoke(cli, [*args, "--url", url, "--token", token])

        yield invoke


def one_line(result: Result) -> str:
    assert result.stdout == "", result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def export(world: World, export_id: str, user: str = "alice") -> dict[str, Any]:
    answer = world.api.client.get(f"/v1/exports/{export_id}", headers=world.api.as_user(user))
    return dict(answer.json())


# -- short ids ------------------------------------------------------------------------


def test_a_unique_start_of_an_id_names_the_export(
    world: World, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued, _, _, bobs = choose_ids(monkeypatch, "abc1", "abd", "abc2", "abe")
    for user in ("alice", "alice", "alice", "bob"):
        world.api.create(user, plan="pro")
    shown = run("exports", "show", "abc1")
    assert shown.exit_code == 0, shown.output
    assert f'"id": "{queued}"' in shown.stdout
    assert f'"id": "{queued}"' in run("exports", "show", "ABC1").stdout  # as typed
    cancelled = run("exports", "cancel", "abc1")
    assert (cancelled.exit_code, cancelled.stdout) == (0, f"{queued} cancelled\n")
    assert export(world, queued)["status"] == "cancelled"
    deleted = run("exports", "delete", "abc1")
    assert (deleted.exit_code, deleted.stdout) == (0, f"{queued} deleted\n")
    assert run("exports", "show", queued).exit_code == 1  # gone
    # bob's export is not alice's to find, by any start of its id
    assert one_line(run("exports", "show", "abe")) == (
        "exportd: no export id starts with abe (export_not_found)"
    )
    assert f'"id": "{bobs}"' in run("exports", "show", "ab", user="bob").stdout


def test_an_ambiguous_or_unknown_start_is_one_line_and_touches_nothing(
    world: World, run: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first, second = choose_ids(monkeypatch, "fa1", "fa2")
    world.api.create("alice", plan="pro")
    world.api.create("alice", plan="pro")
    for command in (["show"], ["cancel"], ["delete"], ["retry"], ["download", "-o", "x.csv"]):
        name, *rest = command
        ambiguous = run("exports", name, "fa", *rest)
        assert ambiguous.exit_code == 1, command
        assert one_line(ambiguous) == (
            f"exportd: fa is ambiguous: 2 export ids start with it ({second[:12]}, {first[:12]})"
        )
        unknown = run("exports", name, "0ff", *rest)
        assert unknown.exit_code == 1, command
        assert one_line(unknown) == "exportd: no export id starts with 0ff (export_not_found)"
    assert {export(world, i)["status"] for i in (first, second)} == {"queued"}
    assert not (tmp_path / "x.csv").exists()


def test_many_matches_are_counted_and_a_few_named(
    world: World, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = choose_ids(monkeypatch, *(f"c{i}" for i in range(7)))
    for _ in ids:
        world.api.create("alice", plan="pro", admin=True)  # admins are not held to a plan
    line = one_line(run("exports", "show", "c"))
    named = ", ".join(i[:12] for i in reversed(ids[-5:]))
    assert line == f"exportd: c is ambiguous: 7 export ids start with it ({named}, …)"


def test_retry_and_download_take_a_short_id(
    world: World, run: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    [completed] = choose_ids(monkeypatch, "d0")
    assert completed_export(world) == completed
    saved = run("exports", "download", "d0", "--out", "file.csv")
    assert saved.exit_code == 0, saved.output
    assert (tmp_path / "file.csv").read_bytes() == CONTENT
    refused = run("exports", "retry", "d0")  # found, then refused: it did not fail
    assert refused.exit_code == 1
    assert one_line(refused).endswith("(export_not_failed)")


# -- exportd export: options, presets, notifications ---------------------------------


def test_export_flags_set_the_file_options_the_preset_and_notifications(
    world: World, run: Any
) -> None:
    created = run(
        "export",
        "trades",
        "--preset",
        "summary",
        "--timezone",
        "Europe/Paris",
        "--delimiter",
        "tab",
        "--locale",
        "de_DE",
        "--bom",
        "--keep-partial",
        "--notify",
        "email",
        "--webhook",
        "https://hooks.example.com/exports",
        email="alice@example.com",
    )
    assert created.exit_code == 0, created.output
    export_id, status = created.stdout.split()
    assert status == "queued"
    body = export(world, export_id)
    assert body["options"] == {
        "timezone": "Europe/Paris",
        "delimiter": "\t",
        "locale": "de_DE",
        "bom": True,
        "keep_partial": True,
    }
    assert [c["name"] for c in body["columns"]] == ["opened_at", "symbol", "direction", "pnl"]
    assert body["notify"] == {
        "email": "alice@example.com",
        "webhook_url": "https://hooks.example.com/exports",
    }
    plain = export(world, run("export", "trades", "--no-bom", "--delimiter", ";").stdout.split()[0])
    assert plain["options"] == {"bom": False, "delimiter": ";"}
    assert plain["notify"] is None


BAD_FLAGS = [
    (["--timezone", "Mars/Olympus"], 1, "(timezone_unknown) — --timezone: not an IANA time zone"),
    (["--delimiter", "::"], 1, "--delimiter: Input should be"),
    (["--locale", "xx_QQ"], 1, "--locale: "),
    (["--preset", "everything"], 1, "(column_preset_unknown) — --preset: one of"),
    (["--columns", "symbol,nope"], 1, "(column_unknown) — --columns: valid columns"),
    (["--param", "direction=sideways"], 1, "--param direction: "),
    (["--notify", "mallory@example.com"], 1, "--notify: must be your own address"),
    (["--webhook", "ftp://hooks.example.com"], 1, "--webhook: String should match"),
    (["--notify", "email"], 2, "--notify email: your token names no email address"),
    (["--columns", "symbol", "--preset", "summary"], 2, "--columns or --preset"),
]


def test_a_bad_flag_is_one_line_naming_it_and_creates_nothing(world: World, run: Any) -> None:
    for flags, code, says in BAD_FLAGS:
        refused = run("export", "trades", *flags)
        assert refused.exit_code == code, (flags, refused.output)
        assert says in one_line(refused), flags
    listed = world.api.client.get("/v1/exports", headers=world.api.as_user("alice"))
    assert listed.json()["items"] == []
