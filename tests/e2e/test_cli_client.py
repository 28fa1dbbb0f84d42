"""`exportd export` and `exportd exports …` against a live server and worker started by
the test: real processes, real exit codes, the file on disk.  The steps a test is not
about (waiting for a status, the commands that steer it along) run the same command tree
in this process (``live.invoke``): each real one costs a Python start-up."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from exportd.config import jwt_key, load_settings
from exportd.db import Database
from exportd.demo.tables import create_demo_tables, seed_trades
from tests.support.live import Live, live_exportd

pytestmark = pytest.mark.slow


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 2_000)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    env = {
        "EXPORTD_SOURCE_MODULES": '["exportd.demo.sources:demo_sources", '
        '"tests.support.slow_source:slow_sources", "tests.support.gated_source:gated_sources"]',
        "EXPORTD_EXPORT_BATCH_ROWS": "100",
    }
    with live_exportd(tmp_path_factory.mktemp("live"), seed=_seed, env=env) as server:
        yield server


def test_export_waits_shows_progress_and_saves_the_file(live: Live) -> None:
    done = live.run(
        "export",
        "trades",
        "-f",
        "csv",
        "-p",
        "symbol=AAPL",
        "--columns",
        "symbol,pnl:P&L",
        "--out",
        "aapl.csv",
    )
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stderr  # the progress line's last state
    assert "saved aapl.csv" in done.stdout
    rows = list(csv.reader(io.StringIO((live.tmp / "aapl.csv").read_text())))
    assert rows[0] == ["Symbol", "P&L"]
    assert len(rows) > 1
    assert {row[0] for row in rows[1:]} == {"AAPL"}
    assert not list(live.tmp.glob("*.part"))


def test_a_refused_request_exits_1_naming_the_field(live: Live) -> None:
    done = live.run("export", "trades", "-p", "direction=sideways", "--wait")
    assert done.returncode == 1
    assert "params_invalid" in done.stderr
    assert "--param direction: " in done.stderr


def test_a_failed_export_exits_1_with_its_reason(live: Live) -> None:
    # A trader profile without evaluations has no work section, which the modern template
    # needs: the worker finds out (building the profile is a job's work).
    done = live.run(
        "export", "trader_profile", "-f", "pdf", "--template", "modern", "--wait", user="nobody"
    )
    assert done.returncode == 1
    assert "missing sections: work (document_sections_missing)" in done.stderr


def test_exports_list_show_and_download(live: Live) -> None:
    created = live.run("export", "trades", "-f", "jsonl", "-p", "limit=5")
    assert created.returncode == 0, created.stderr
    export_id, status = created.stdout.split()
    assert status == "queued"
    deadline = time.monotonic() + 60
    while '"completed"' not in live.invoke("exports", "show", export_id).stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    listed = live.invoke("exports", "list")
    assert export_id in listed.stdout
    saved = live.run("exports", "download", export_id, "--out", "five.jsonl")
    assert saved.returncode == 0, saved.stderr
    assert len((live.tmp / "five.jsonl").read_text().splitlines()) == 5
    assert live.invoke("exports", "show", "no-such-export").exit_code == 1


def test_no_token_is_a_usage_error(live: Live) -> None:
    done = live.run("exports", "list", user=None)
    assert done.returncode == 2
    assert "EXPORTD_TOKEN" in done.stderr


def test_ctrl_c_offers_to_cancel_and_cancels_on_yes(live: Live) -> None:
    headers = {"Authorization": f"Bearer {live.token('bob')}"}
    client = subprocess.Popen(
        [sys.executable, "-m", "exportd", "export", "slow_trades", "-f", "csv", "--wait"],
        env={**live.env, "EXPORTD_URL": live.url, "EXPORTD_TOKEN": live.token("bob")},
        cwd=live.tmp,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        running = _wait_for_running(live.url, headers)
        client.send_signal(signal.SIGINT)
        _out, err = client.communicate("y\n", timeout=60)
    finally:
        client.kill()
    assert client.returncode == 130, err
    assert "Cancel the export on the server?" in err
    assert f"cancelled {running}" in err
    deadline = time.monotonic() + 30
    while (
        httpx.get(f"{live.url}/v1/exports/{running}", headers=headers).json()["status"]
        != "cancelled"
    ):
        assert time.monotonic() < deadline, "the export was not cancelled"
        time.sleep(0.2)


def test_ctrl_c_never_deletes_an_export_that_completed_while_it_asked(
    live: Live, tmp_path: Path
) -> None:
    """The question waits for an answer while the export runs on: answered yes after it
    completed, the export is still there, and its file downloads.  The source waits at a
    gate until the question is asked (tests/support/gated_source.py)."""
    headers = {"Authorization": f"Bearer {live.token('bob')}"}
    asked = tmp_path / "stderr.txt"
    command = ["export", "gated_rows", "-f", "csv", "-p", f"gate={tmp_path}", "--wait"]
    with (
        asked.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "exportd", *command],
            env={**live.env, "EXPORTD_URL": live.url, "EXPORTD_TOKEN": live.token("bob")},
            cwd=live.tmp,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        ) as client,
    ):
        try:
            running = _wait_for_running(live.url, headers, "gated_rows")
            _wait_for(lambda: (tmp_path / "held").exists(), "the export never reached its gate")
            client.send_signal(signal.SIGINT)
            _wait_for(
                lambda: "Cancel the export on the server?" in asked.read_text(), "no question"
            )
            (tmp_path / "open").touch()  # the export runs on, and completes
            _wait_for(
                lambda: (
                    httpx.get(f"{live.url}/v1/exports/{running}", headers=headers).json()["status"]
                    == "completed"
                ),
                "the export never completed",
            )
            assert client.poll() is None  # still asking
            client.communicate("y\n", timeout=60)
        finally:
            client.kill()
            (tmp_path / "open").touch()  # never a job left at the gate for the next tests
    err = asked.read_text()
    assert client.returncode == 130, err
    export = httpx.get(f"{live.url}/v1/exports/{running}", headers=headers)
    assert (export.status_code, export.json()["status"]) == (200, "completed")
    saved = live.run("exports", "download", running, "--out", "kept.csv")
    assert saved.returncode == 0, saved.stderr
    assert len((live.tmp / "kept.csv").read_text().splitlines()) == 501  # header + rows
    assert f"{running} had already completed, nothing to cancel" in err


def test_exports_cancel_cancels_and_delete_deletes(live: Live) -> None:
    created = live.invoke("export", "slow_trades", "-f", "csv")
    export_id = created.stdout.split()[0]
    cancelled = live.run("exports", "cancel", export_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.split()[1] in ("cancelled", "running")  # queued, or started
    deadline = time.monotonic() + 30
    while '"cancelled"' not in live.invoke("exports", "show", export_id).stdout:
        assert time.monotonic() < deadline, "the export was not cancelled"
        time.sleep(0.1)
    again = live.run("exports", "cancel", export_id)  # final: left as it is
    assert again.returncode == 1
    assert "export_not_active" in again.stderr
    assert '"cancelled"' in live.invoke("exports", "show", export_id).stdout
    deleted = live.run("exports", "delete", export_id)
    assert (deleted.returncode, deleted.stdout.split()) == (0, [export_id, "deleted"])
    assert live.invoke("exports", "show", export_id).exit_code == 1


def _wait_for_running(url: str, headers: dict[str, str], source: str = "slow_trades") -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = httpx.get(
            f"{url}/v1/exports",
            params={"status": "running", "source": source},
            headers=headers,
        ).json()
        if page["items"]:
            return str(page["items"][0]["id"])
        time.sleep(0.1)
    raise AssertionError("the export never started")


def _wait_for(done: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_no_token_or_secret_reaches_the_logs(live: Live) -> None:
    token = live.token("bob")
    assert live.run("exports", "list").returncode == 0
    logs = (live.tmp / "server.log").read_text() + (live.tmp / "worker.log").read_text()
    assert logs  # the server and the worker did log
    signature = token.rsplit(".", 1)[1]
    assert signature not in logs
    assert "Bearer" not in logs
    assert jwt_key(load_settings()) not in logs


def test_schedules_commands_steer_a_schedule_end_to_end(live: Live) -> None:
    """`exportd schedules create|list|show|pause|run|resume|delete` as bob."""
    made = live.run(
        "schedules", "create", "trades", "-f", "csv", "-p", "symbol=AAPL",
        "--cron", "0 6 * * 1", "--tz", "Europe/Paris", "--skip-if-empty", "--name", "monday",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    schedule_id, status = made.stdout.split()[:2]
    assert status == "active,"
    listed = live.invoke("schedules", "list")
    assert schedule_id in listed.stdout
    assert "0 6 * * 1 Europe/Paris" in listed.stdout
    shown = live.invoke("schedules", "show", schedule_id)
    assert '"skip_if_empty": true' in shown.stdout
    assert (
        live.invoke("schedules", "pause", schedule_id).stdout.strip()
        == f"{schedule_id} paused (owner)"
    )
    ran = live.invoke("schedules", "run", schedule_id)
    assert ran.exit_code == 0, ran.output
    export_id = ran.stdout.split()[0]
    shown_export = live.invoke("exports", "show", export_id)
    assert schedule_id in shown_export.stdout
    assert live.invoke("schedules", "resume", schedule_id).stdout.strip() == f"{schedule_id} active"
    assert live.invoke("schedules", "delete", schedule_id).exit_code == 0
    gone = live.run("schedules", "show", schedule_id)
    assert gone.returncode == 1
    assert "schedule_not_found" in gone.stderr
    bad = live.invoke("schedules", "create", "trades", "--every", "1m")  # pro: 5 min at most
    assert bad.exit_code == 1
    assert "schedule_interval_too_short" in bad.stderr
    usage = live.run("schedules", "create", "trades")
    assert usage.returncode == 2


# -- where the file goes, and what --param means -------------------------------------------


def test_params_are_typed_by_the_source_s_schema(live: Live) -> None:
    """A text param stays text (a ticker of digits, the word null); a list takes each
    value given for it; a number is a number."""
    digits = live.invoke("export", "trades", "-p", "symbol=7203", "-p", "limit=3", "--wait")
    assert digits.exit_code == 0, digits.stdout
    listed = live.invoke("exports", "list", "--limit", "1").stdout
    export_id = listed.split("\n")[3].split()[1].strip("│ ")
    shown = live.invoke("exports", "show", export_id).stdout
    assert '"symbol": "7203"' in shown
    assert '"limit": 3' in shown
    tags = live.invoke("export", "trades", "-p", "tags=scalp", "-p", "tags=news", "--wait")
    assert tags.exit_code == 0, tags.stdout
    twice = live.invoke("export", "trades", "-p", "symbol=A", "-p", "symbol=B")
    assert twice.exit_code == 2
    assert "symbol is given twice" in twice.stderr


def test_out_writes_through_a_symlink_into_a_folder_and_to_stdout(live: Live) -> None:
    target = live.tmp / "real.jsonl"
    link = live.tmp / "link.jsonl"
    link.symlink_to(target)
    through = live.run("export", "trades", "-f", "jsonl", "-p", "limit=2", "--out", "link.jsonl")
    assert through.returncode == 0, through.stderr
    assert link.is_symlink()
    assert len(target.read_text().splitlines()) == 2
    folder = live.tmp / "into"
    folder.mkdir()
    inside = live.run("export", "trades", "-f", "csv", "-p", "limit=2", "--out", "into")
    assert inside.returncode == 0, inside.stderr
    [saved] = folder.iterdir()
    assert saved.suffix == ".csv"
    piped = live.run("export", "trades", "-f", "jsonl", "-p", "limit=3", "--out", "-")
    assert piped.returncode == 0, piped.stderr
    assert len(piped.stdout.splitlines()) == 3  # the file, and nothing else
    assert "saved -" in piped.stderr
    assert not (live.tmp / "-").exists()


def test_an_out_that_cannot_be_written_is_refused_before_the_export_is_made(live: Live) -> None:
    before = live.invoke("exports", "list", "--limit", "200").stdout.count("trades")
    missing = live.run("export", "trades", "--out", "no/such/folder/x.csv")
    assert missing.returncode == 2
    assert "there is no folder no/such/folder" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert live.invoke("exports", "list", "--limit", "200").stdout.count("trades") == before
    empty = live.run("exports", "show", "")
    assert empty.returncode == 2
    assert "an id cannot be empty" in empty.stderr
    assert "Traceback" not in empty.stderr
