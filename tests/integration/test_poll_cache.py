"""Status polls from the row cache: a repeated poll reads no database, yet every change
— made by this process, by another one (a worker), or by hand in SQL — shows; on
SQLite at once, on PostgreSQL as soon as the trigger's notice arrives."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import event, select, text, update

from exportd.api.app import create_app
from exportd.clock import SystemClock
from exportd.config import Settings
from exportd.db import Database, create_database
from exportd.db.tables import exports, jobs
from exportd.exports import changes
from exportd.exports.changes import APPLICATION_NAME, CHANNEL, PostgresChanges
from exportd.exports.row_cache import RowCache
from tests.support.api import Api
from tests.support.sources import fake_sources

pg_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def api(settings: Settings, db: Database) -> Iterator[Api]:
    app = create_app(settings, db=db, sources=fake_sources())
    with TestClient(app) as client:
        cache: RowCache = app.state.exports.row_cache
        wait_for(lambda: cache.live)  # PostgreSQL: after the feed's first ping came back
        yield Api(client, settings)


@pytest.fixture
def other(settings: Settings) -> Iterator[Database]:
    """Another process's connection to the same database: what a worker writes with."""
    database = create_database(settings)
    yield database
    database.dispose()


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def poll(api: Api, export_id: str, user: str = "alice", **kw: Any) -> Any:
    return api.client.get(f"/v1/exports/{export_id}", headers=api.as_user(user, **kw))


def create(api: Api) -> str:
    response = api.create("alice")
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def job_of(db: Database, export_id: str) -> int:
    with db.read() as conn:
        return int(conn.execute(select(exports.c.job_id).where(exports.c.id == export_id)).one()[0])


def test_a_repeated_poll_reads_no_database(api: Api, statements: list[str]) -> None:
    export_id = create(api)
    assert poll(api, export_id).status_code == 200
    statements.clear()
    hits_before = hits()
    for _ in range(5):
        assert poll(api, export_id).json()["status"] == "queued"
    assert statements == []
    assert hits() == hits_before + 5  # exportd_poll_cache_total{result="hit"}


def hits() -> float:
    return REGISTRY.get_sample_value("exportd_poll_cache_total", {"result": "hit"}) or 0.0


def test_a_change_by_another_process_shows(api: Api, db: Database, other: Database) -> None:
    export_id = create(api)
    job_id = job_of(db, export_id)
    assert poll(api, export_id).json()["progress"]["rows_done"] is None
    poll(api, export_id)  # from the cache now
    with other.write() as conn:
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(
                state="running",
                progress={"rows_done": 5, "rows_total": 10},
                updated_at=SystemClock().now(),
            )
        )
    if not db.is_postgres:  # SQLite checks data_version before every look-up
        assert poll(api, export_id).json()["progress"]["rows_done"] == 5
    wait_for(
        lambda: (
            poll(api, export_id).json()["progress"]
            == {"percent": 50.0, "rows_done": 5, "rows_total": 10}
        )
    )
    assert poll(api, export_id).json()["status"] == "running"


def test_a_hand_made_change_in_sql_shows(api: Api, db: Database, other: Database) -> None:
    export_id = create(api)
    poll(api, export_id)
    poll(api, export_id)
    with other.write() as conn:
        conn.execute(
            text("UPDATE exports SET deleted_at = created_at WHERE id = :id"), {"id": export_id}
        )
    wait_for(lambda: poll(api, export_id).status_code == 404)


def test_own_writes_show_on_the_next_poll(api: Api) -> None:
    export_id = create(api)
    poll(api, export_id)
    poll(api, export_id)
    cancelled = api.client.delete(f"/v1/exports/{export_id}", headers=api.as_user("alice"))
    assert cancelled.status_code in (200, 202)
    assert poll(api, export_id).json()["status"] == "cancelled"  # no waiting, any backend


def test_a_cached_row_keeps_its_owner(api: Api) -> None:
    export_id = create(api)
    poll(api, export_id)
    assert poll(api, export_id).status_code == 200  # cached
    assert poll(api, export_id, user="bob").status_code == 404
    assert poll(api, export_id, user="bob").json()["code"] == "export_not_found"
    assert poll(api, export_id, user="root", admin=True).status_code == 200


def test_off_when_configured(settings: Settings, db: Database, statements: list[str]) -> None:
    app = create_app(
        settings.model_copy(update={"poll_cache_rows": 0}), db=db, sources=fake_sources()
    )
    with TestClient(app) as client:
        api = Api(client, settings)
        export_id = create(api)
        poll(api, export_id)
        statements.clear()
        poll(api, export_id)
        assert any("FROM exports" in statement for statement in statements)
        assert not app.state.exports.row_cache.live


@pg_only
def test_triggers_notify_what_a_poll_can_see_and_not_lease_renewals(
    settings: Settings, api: Api, db: Database
) -> None:
    export_id = create(api)
    job_id = job_of(db, export_id)
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")

        def heard() -> list[str]:
            return [
                n.payload
                for n in listener.notifies(timeout=0.3)
                if not n.payload.startswith("ping:")
            ]

        with db.write() as conn:
            renewed = SystemClock().now() + timedelta(minutes=5)
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(lease_expires_at=renewed))
        assert heard() == []
        with db.write() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(progress={"rows_done": 1}))
        assert heard() == [f"job:{job_id}"]
        with db.write() as conn:
            conn.execute(update(exports).where(exports.c.id == export_id).values(retries=1))
        assert heard() == [f"export:{export_id}"]


@pg_only
def test_a_lost_listener_reconnects_and_misses_nothing(
    api: Api, db: Database, other: Database
) -> None:
    export_id = create(api)
    poll(api, export_id)
    poll(api, export_id)

    def listener_pids() -> list[int]:
        with other.read() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE application_name = :name AND datname = current_database()"
                    ),
                    {"name": APPLICATION_NAME},
                ).scalars()
            )

    [first] = listener_pids()
    with other.write() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        # Changed while the listener is gone: no notice will ever say so.
        conn.execute(update(exports).where(exports.c.id == export_id).values(retries=3))
    wait_for(lambda: poll(api, export_id).json()["retries"] == 3)
    wait_for(lambda: len(listener_pids()) == 1 and listener_pids() != [first])
    cache: RowCache = api.client.app.state.exports.row_cache  # type: ignore[attr-defined]
    wait_for(lambda: cache.live)


@pg_only
def test_the_cache_stays_off_while_its_pings_do_not_come_back(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "PING_LOST_AFTER_S", 0.3)
    url = db.engine.url.render_as_string(hide_password=False)
    heard, unheard = RowCache(max_rows=10), RowCache(max_rows=10)
    working, broken = PostgresChanges(heard, url), PostgresChanges(unheard, url)
    broken.ping_channel = "exportd_nowhere"  # as behind PgBouncer: no notice comes back
    working.start()
    broken.start()
    try:
        wait_for(lambda: heard.live)
        time.sleep(1.0)  # three lost pings and reconnections
        assert not unheard.live
    finally:
        working.stop()
        broken.stop()
    assert not heard.live  # stopped: dark again
