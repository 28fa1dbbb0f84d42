"""The command line as an operator uses it.  What is about the process — a start-up
refused, stderr without a traceback, the exit code a shell sees — runs ``exportd`` as a
real process; the rest runs the same command tree in this process (Typer's runner), a
Python start-up less each."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from exportd.auth.api_keys import ApiKeys
from exportd.auth.tokens import verify
from exportd.config import jwt_key, load_settings
from exportd.db import create_database
from exportd.db.migrate import head_revision
from exportd.errors import ErrorInfo, Unauthenticated
from exportd.queue import JobState, JobStore, NewJob
from exportd.queue.models import Claimed, Outcome
from tests.support.command_line import invoke
from tests.support.databases import migrated_sqlite


def exportd(*args: str, url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "EXPORTD_DATABASE_URL": url, "COLUMNS": "200", **env}
    return subprocess.run(
        [sys.executable, "-m", "exportd", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run(*args: str, url: str | None, **env: str) -> Result:
    """``exportd ARGS`` in this process (tests/support/command_line.py), its settings from
    ``env`` as a real one's."""
    return invoke(args, {"EXPORTD_DATABASE_URL": url, **env})


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def migrated(tmp_path: Path) -> str:
    """A database `exportd migrate` made (test_migrate_then_operate_on_jobs runs it)."""
    return migrated_sqlite(tmp_path / "cli.db")


def test_migrate_then_operate_on_jobs(url: str) -> None:
    done = exportd("migrate", url=url)
    assert done.returncode == 0, done.stderr
    settings = load_settings(database_url=url)
    db, store = create_database(settings), JobStore.from_settings(settings)
    assert f"revision {head_revision(db)}" in done.stdout
    with db.write() as conn:
        queued = store.enqueue(conn, NewJob(task="report")).job.id
        failing = store.enqueue(conn, NewJob(task="report", max_attempts=1)).job.id
    with db.write() as conn:
        store.claim(conn, worker_id="w", queues=["default"], limit=2)
    with db.write() as conn:
        store.settle(conn, Outcome(claim=Claimed(failing, 1), error=ErrorInfo("boom", "x", True)))

    listing = run("jobs", "list", "--state", "failed", url=url)
    assert listing.exit_code == 0, listing.output
    assert f"│ {failing} " in listing.stdout
    assert "boom" in listing.stdout

    shown = run("jobs", "show", str(failing), url=url)
    assert '"state": "failed"' in shown.stdout

    assert run("jobs", "retry", str(failing), url=url).exit_code == 0
    assert run("jobs", "cancel", str(queued), url=url).exit_code == 0
    with db.read() as conn:
        assert store.get(conn, failing).state is JobState.QUEUED
        assert store.get(conn, queued).cancel_requested
    db.dispose()


def test_unknown_job_is_a_clear_error(migrated: str) -> None:
    result = run("jobs", "retry", "12345", url=migrated)
    assert result.exit_code == 1
    assert "no job with id 12345" in result.stderr
    assert "job_not_found" in result.stderr


@pytest.mark.parametrize("job_id", ["0", "99999999999999999999999999"])
def test_a_job_id_out_of_range_is_a_usage_error(migrated: str, job_id: str) -> None:
    result = run("jobs", "show", job_id, url=migrated)
    assert result.exit_code == 2
    assert "is not in the range" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_bad_setting_stops_the_command_with_its_name(url: str) -> None:
    result = exportd("worker", url=url, EXPORTD_MEMORY_LIMIT_MB="lots")
    assert result.returncode == 2
    assert "invalid setting EXPORTD_MEMORY_LIMIT_MB" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unimportable_task_module_is_named(migrated: str) -> None:
    result = exportd("worker", "--import", "no.such.module", url=migrated)
    assert result.returncode == 2
    assert "no.such.module" in result.stderr


def test_status_shows_depth_and_oldest_job(migrated: str) -> None:
    settings = load_settings(database_url=migrated)
    db, store = create_database(settings), JobStore.from_settings(settings)
    with db.write() as conn:
        store.enqueue(conn, NewJob(task="report"))
    shown = run("status", url=migrated)
    assert shown.exit_code == 0, shown.output
    assert re.search(r"queued\s*│\s*1\s*│", shown.stdout), shown.stdout
    assert re.search(r"running\s*│\s*0\s*│", shown.stdout)
    assert re.search(r"oldest queued job: due \d+ s ago", shown.stdout), shown.stdout
    db.dispose()


def test_status_says_a_job_queued_for_later_is_not_due_yet(migrated: str) -> None:
    settings = load_settings(database_url=migrated)
    db, store = create_database(settings), JobStore.from_settings(settings)
    later = store.clock.now() + timedelta(minutes=10)
    with db.write() as conn:
        store.enqueue(conn, NewJob(task="report", run_after=later))
    shown = run("status", url=migrated)
    assert re.search(r"oldest queued job: due in (599|600) s", shown.stdout), shown.stdout
    db.dispose()


def test_production_refuses_to_start_without_a_reachable_smtp_server(migrated: str) -> None:
    url = migrated
    production = {
        "EXPORTD_ENV": "production",
        "EXPORTD_SECRET_KEY": "s" * 40,
        "EXPORTD_JWT_SECRET": "j" * 40,
    }
    missing = exportd("worker", url=url, **production)
    assert missing.returncode == 2
    assert "EXPORTD_SMTP_URL must be set in production" in missing.stderr
    unreachable = exportd("serve", url=url, EXPORTD_SMTP_URL="smtp://127.0.0.1:1", **production)
    assert unreachable.returncode == 2
    assert "cannot reach the SMTP server at 127.0.0.1:1" in unreachable.stderr


def test_the_chromium_engine_without_its_browser_stops_the_worker(migrated: str) -> None:
    refused = exportd(
        "worker",
        url=migrated,
        EXPORTD_PDF_ENGINE="chromium",
        EXPORTD_CHROMIUM_PATH="/nonexistent/chromium",
    )
    assert refused.returncode == 2
    assert "apt install chromium" in refused.stderr


def test_token_mints_what_the_api_accepts(url: str) -> None:
    minted = run("token", "carol", "--plan", "pro", "--email", "c@example.com", url=url)
    assert minted.exit_code == 0, minted.output
    principal = verify(minted.stdout.strip(), secret=jwt_key(load_settings(database_url=url)))
    assert (principal.user_id, principal.plan, principal.email) == ("carol", "pro", "c@example.com")
    assert not principal.is_admin
    admin = run("token", "root", "--admin", url=url)
    assert verify(admin.stdout.strip(), secret=jwt_key(load_settings(database_url=url))).is_admin


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["", "--plan", "pro"], "token_claim_invalid"),
        (["apikey:x"], "token_subject_reserved"),
        (["alice", "--plan", ""], "token_claim_invalid"),
        (["a\nb"], "token_claim_invalid"),
    ],
)
def test_token_refuses_what_the_api_would(url: str, args: list[str], code: str) -> None:
    refused = run("token", *args, url=url)
    assert refused.exit_code == 2
    assert code in refused.stderr
    assert refused.stdout == ""


def test_token_refuses_when_only_jwks_tokens_are_taken(url: str) -> None:
    refused = run(
        "token",
        "carol",
        url=url,
        EXPORTD_ENV="production",
        EXPORTD_SECRET_KEY="s" * 40,
        EXPORTD_JWKS_URL="https://idp.example/jwks.json",
        EXPORTD_SMTP_URL="smtp+starttls://u:p@mail.example:587",
    )
    assert refused.exit_code == 2
    assert "only JWKS tokens" in refused.stderr


def test_operator_commands_say_where_they_looked_instead_of_creating_a_database(
    tmp_path: Path,
) -> None:
    looked = f"no database at {tmp_path / 'var' / 'exportd.db'}"
    elsewhere = {k: v for k, v in os.environ.items() if k != "EXPORTD_DATABASE_URL"}
    ran = subprocess.run(
        [sys.executable, "-m", "exportd", "status"],
        env={**elsewhere, "COLUMNS": "200"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2, ran.stderr
    assert looked in ran.stderr
    assert "Traceback" not in ran.stderr
    with contextlib.chdir(tmp_path):
        for command in (["jobs", "list"], ["plans", "list"], ["cleanup", "--dry-run"]):
            refused = run(*command, url=None)
            assert refused.exit_code == 2, (command, refused.output)
            assert looked in refused.stderr
            assert isinstance(refused.exception, SystemExit)  # no other exception: no traceback
    assert not (tmp_path / "var" / "exportd.db").exists()
    (tmp_path / "empty.db").touch()
    empty = run("status", url=f"sqlite:///{tmp_path / 'empty.db'}")
    assert empty.exit_code == 2
    assert "the database is empty: run `exportd migrate` first" in empty.stderr


def test_an_unreachable_database_is_one_line(url: str) -> None:
    down = exportd("jobs", "list", url="postgresql://postgres@127.0.0.1:1/none")
    assert down.returncode == 1
    assert down.stderr.startswith("exportd: cannot reach the database: ")
    assert "Traceback" not in down.stderr


def test_plans_refuse_unknown_formats(migrated: str) -> None:
    url = migrated
    for formats in ("csv,bogus", "", ",,"):
        refused = run("plans", "set", "gold", "--formats", formats, url=url)
        assert refused.exit_code == 1, formats
        assert "plan_formats_invalid" in refused.stderr, formats
    saved = run("plans", "set", "gold", "--formats", "csv, parquet,pdf", url=url)
    assert saved.exit_code == 0, saved.output
    listed = run("plans", "list", url=url).stdout
    assert listed.count("gold") == 1
    assert "csv,parquet,pdf" in listed


@pytest.mark.parametrize(
    ("server", "says"),
    [
        ("http://127.0.0.1:9", "cannot reach the server at http://127.0.0.1:9"),
        ("localhost:8000", "the server's URL must start with http:// or https://"),
    ],
)
def test_the_client_says_in_one_line_when_it_cannot_reach_the_server(
    url: str, server: str, says: str
) -> None:
    for command in (["exports", "list"], ["export", "trades", "--wait"]):
        ran = exportd(*command, url=url, EXPORTD_URL=server, EXPORTD_TOKEN="t")
        assert ran.returncode == 1, ran.stderr
        assert ran.stderr.strip().splitlines() == [ran.stderr.strip()]
        assert says in ran.stderr


def test_api_keys_are_created_with_scopes_listed_and_revoked(migrated: str) -> None:
    url = migrated
    created = run(
        "apikey",
        "create",
        "dashboard",
        "--scope",
        "exports:read",
        "--scope",
        "documents:read",
        url=url,
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("exk_")
    listing = run("apikey", "list", url=url)
    assert "dashboard" in listing.stdout
    assert "documents:read,exports:read" in listing.stdout
    assert key.partition("_")[2].partition("_")[2] not in listing.stdout  # never the secret
    unknown = run("apikey", "create", "x", "--scope", "root", url=url)
    assert (unknown.exit_code, "scope_unknown" in unknown.stderr) == (1, True)
    key_id = key.removeprefix("exk_").partition("_")[0]
    assert run("apikey", "revoke", key_id, url=url).exit_code == 0
    settings = load_settings(database_url=url)
    db = create_database(settings)
    with pytest.raises(Unauthenticated, match="revoked"):
        ApiKeys(db).verify(key)
    db.dispose()


def test_a_plans_running_limit_is_set_and_listed(migrated: str) -> None:
    url = migrated
    refused = run("plans", "set", "free", "--max-running", "0", url=url)
    assert refused.exit_code == 2  # below the option's minimum: a usage error
    saved = run("plans", "set", "free", "--max-running", "3", url=url)
    assert saved.exit_code == 0, saved.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[3].strip()
        for line in run("plans", "list", url=url).stdout.splitlines()
        if line.count("│") > 3
    }
    assert rows["free"] == "3"
    assert rows["pro"] == "any"
