"""Long polls: ``Prefer: wait=N`` with a current ``If-None-Match`` holds a status poll
until the export changes — by a worker (another process), by hand, by this API — or
the wait ends; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from exportd.api import long_poll as long_polls
from exportd.api.app import create_app
from exportd.api.long_poll import (
    Current,
    ExportWaits,
    end_all_waits,
    hold_while_unchanged,
    preferred_wait,
)
from exportd.clock import SystemClock
from exportd.config import Settings
from exportd.db import Database, create_database
from exportd.db.tables import exports, jobs
from exportd.exports.row_cache import RowCache
from tests.support.api import Api
from tests.support.sources import fake_sources


def _api(settings: Settings, db: Database) -> Iterator[Api]:
    app = create_app(settings, db=db, sources=fake_sources())
    with TestClient(app) as client:
        cache: RowCache = app.state.exports.row_cache
        deadline = time.monotonic() + 10
        while not cache.live:  # PostgreSQL: after the feed's first ping came back
            assert time.monotonic() < deadline, "the change feed never went live"
            time.sleep(0.01)
        yield Api(client, settings)


@pytest.fixture
def api(settings: Settings, db: Database) -> Iterator[Api]:
    yield from _api(settings, db)


@pytest.fixture
def other(settings: Settings) -> Iterator[Database]:
    """Another process's connection to the same database: what a worker writes with."""
    database = create_database(settings)
    yield database
    database.dispose()


def created(api: Api) -> tuple[str, str]:
    """A new export's id and the ETag of its status."""
    export_id = str(api.create("alice").json()["id"])
    first = api.client.get(f"/v1/exports/{export_id}", headers=api.as_user("alice"))
    return export_id, first.headers["etag"]


def long_poll(api: Api, export_id: str, etag: str, prefer: str = "wait=10") -> Any:
    headers = {**api.as_user("alice"), "If-None-Match": etag, "Prefer": prefer}
    return api.client.get(f"/v1/exports/{export_id}", headers=headers)


Later = Callable[[float, Callable[[], object]], None]


@pytest.fixture
def later() -> Iterator[Later]:
    """Run an action after a while, in a thread; joined before the app stops (a request
    still in flight when its TestClient stops would hang the teardown)."""
    timers: list[threading.Timer] = []

    def schedule(seconds: float, action: Callable[[], object]) -> None:
        timers.append(threading.Timer(seconds, action))
        timers[-1].start()

    yield schedule
    for timer in timers:
        timer.join(30)


def start_running(db: Database, export_id: str) -> None:
    """What a worker's claim writes: the job runs."""
    with db.write() as conn:
        job_id = conn.execute(select(exports.c.job_id).where(exports.c.id == export_id)).scalar()
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(state="running", started_at=SystemClock().now(), updated_at=SystemClock().now())
        )


def test_a_change_by_another_process_answers_the_waiting_poll(
    settings: Settings, db: Database, other: Database, later: Later
) -> None:
    # No look at the versions on a timer within the test: the change feed wakes the wait.
    for api in _api(settings.model_copy(update={"events_poll_interval_s": 10.0}), db):
        export_id, etag = created(api)
        later(0.3, functools.partial(start_running, other, export_id))
        started = time.monotonic()
        response = long_poll(api, export_id, etag)
        took = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "running"
        assert response.headers["etag"] != etag
        assert response.headers["preference-applied"] == "wait=10"
        assert 0.25 <= took < 3  # held until the change, answered soon after it


def test_a_change_by_this_api_answers_the_waiting_poll(api: Api, later: Later) -> None:
    export_id, etag = created(api)
    headers = api.as_user("alice")
    later(0.3, lambda: api.client.delete(f"/v1/exports/{export_id}", headers=headers))
    response = long_poll(api, export_id, etag)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


def test_a_created_export_s_etag_is_its_status_s(api: Api, later: Later) -> None:
    """The answer to the POST is the export as GET shows it: a client long-polls at once."""
    created_ = api.create("alice")
    export_id = created_.json()["id"]
    assert created_.headers["content-location"] == f"/v1/exports/{export_id}"
    read = api.client.get(f"/v1/exports/{export_id}", headers=api.as_user("alice"))
    assert created_.headers["etag"] == read.headers["etag"]
    later(0.3, lambda: api.client.delete(f"/v1/exports/{export_id}", headers=api.as_user("alice")))
    assert long_poll(api, export_id, created_.headers["etag"]).json()["status"] == "cancelled"


def test_an_unchanged_export_answers_304_when_the_wait_ends(api: Api) -> None:
    export_id, etag = created(api)
    started = time.monotonic()
    response = long_poll(api, export_id, etag, "wait=1")
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    assert response.headers["preference-applied"] == "wait=1"
    assert 0.9 <= time.monotonic() - started < 3


def test_a_poll_without_the_current_etag_is_answered_at_once(api: Api) -> None:
    export_id, _ = created(api)
    started = time.monotonic()
    response = long_poll(api, export_id, 'W/"something else"', "wait=30")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert time.monotonic() - started < 2


def test_the_setting_caps_the_wait(settings: Settings, db: Database) -> None:
    capped = settings.model_copy(update={"long_poll_max_s": 0.3})
    for api in _api(capped, db):
        export_id, etag = created(api)
        started = time.monotonic()
        response = long_poll(api, export_id, etag, "wait=60")
        assert response.status_code == 304
        assert response.headers["preference-applied"] == "wait=0.3"
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("prefer", ["wait=abc", "wait=-1", "wait", "respond-async", "wait=1.5"])
def test_a_preference_it_cannot_read_is_ignored(api: Api, prefer: str) -> None:
    export_id, etag = created(api)
    started = time.monotonic()
    response = long_poll(api, export_id, etag, prefer)
    assert response.status_code == 304
    assert "preference-applied" not in response.headers
    assert time.monotonic() - started < 2


def test_a_stopping_api_answers_waiting_polls_at_once(api: Api, later: Later) -> None:
    export_id, etag = created(api)
    later(0.3, end_all_waits)  # what the server's signal handler calls
    started = time.monotonic()
    response = long_poll(api, export_id, etag, "wait=30")
    assert response.status_code == 304
    assert time.monotonic() - started < 3


def test_a_deleted_export_answers_404_to_its_waiting_poll(
    api: Api, other: Database, later: Later
) -> None:
    export_id, etag = created(api)

    def delete() -> None:
        with other.write() as conn:
            conn.execute(
                update(exports)
                .where(exports.c.id == export_id)
                .values(deleted_at=SystemClock().now(), updated_at=SystemClock().now())
            )

    later(0.3, delete)
    assert long_poll(api, export_id, etag).status_code == 404


@pytest.mark.parametrize(
    ("prefer", "wait"),
    [
        (None, 0.0),
        ("wait=5", 5.0),
        ("WAIT = 7", 7.0),
        ('wait="3"', 3.0),
        ("respond-async, wait=4", 4.0),
        ("handling=lenient; x=1, wait=2; y", 2.0),
        ("wait=100000", 30.0),  # capped
        ("wait=0", 0.0),
        ("wait=1e3", 0.0),
        ("wait=-5", 0.0),
        ("wait=", 0.0),
        ("waiting=5", 0.0),
        ("wait=9999999999", 30.0),  # past any integer's range: the most there is, capped
        ("wait=" + "9" * 400, 30.0),
    ],
)
def test_the_wait_a_prefer_header_asks_for(prefer: str | None, wait: float) -> None:
    assert preferred_wait(prefer, max_s=30) == wait


class _Request:
    """What hold_while_unchanged reads of a request: headers and the client's messages."""

    def __init__(self, etag: str, messages: asyncio.Queue[dict[str, Any]]) -> None:
        self.headers = {"if-none-match": etag}
        self._messages = messages

    async def receive(self) -> dict[str, Any]:
        return await self._messages.get()


def test_a_client_that_goes_away_ends_its_wait() -> None:
    async def scenario() -> float:
        version = datetime(2026, 1, 1, tzinfo=UTC)
        waits = ExportWaits(
            rows=lambda ids: dict.fromkeys(ids, version),
            version_of=lambda row: row,  # the row is its version here
            check_every_s=0.1,
        )
        current = Current(b"{}", 'W/"a"', version, final=False)
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        request: Any = _Request(current.etag, messages)

        async def read(_row: Any = None) -> Current:
            return current

        asyncio.get_running_loop().call_later(0.2, messages.put_nowait, {"type": "http.disconnect"})
        started = time.monotonic()
        answer = await hold_while_unchanged(request, waits, "e1", current, read, 30)
        assert answer == current
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 2


def test_the_poll_after_an_answered_wait_is_served_from_the_cache(
    api: Api, other: Database, later: Later
) -> None:
    export_id, etag = created(api)
    later(0.2, functools.partial(start_running, other, export_id))
    answered = long_poll(api, export_id, etag)
    assert answered.json()["status"] == "running"
    hits = cache_hits()
    again = long_poll(api, export_id, answered.headers["etag"], prefer="wait=0")
    assert again.status_code == 304
    assert cache_hits() == hits + 1  # the wait's read kept the row: no read of its own


def cache_hits() -> float:
    return REGISTRY.get_sample_value("exportd_poll_cache_total", {"result": "hit"}) or 0.0


def test_stopping_waits_for_the_read_in_flight() -> None:
    """The API's shutdown awaits the watch's read, whose pooled connection must be back
    before the database is disposed (a connection left out leaked)."""

    async def scenario() -> None:
        reading, release, read = threading.Event(), threading.Event(), threading.Event()

        def rows(ids: list[str]) -> dict[str, Any]:
            reading.set()
            release.wait(5)
            read.set()
            return {}

        version = datetime(2026, 1, 1, tzinfo=UTC)
        waits = ExportWaits(rows=rows, version_of=lambda row: row, check_every_s=0.01)
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = asyncio.ensure_future(waits.changed("e1", version, 10, or_=gone))
        assert await asyncio.to_thread(reading.wait, 5)
        closing = asyncio.ensure_future(waits.aclose())
        await asyncio.sleep(0.1)
        assert not closing.done()  # the read is still in flight
        release.set()
        await asyncio.wait_for(closing, 5)
        assert read.is_set()
        assert await waiting is None

    asyncio.run(scenario())


class _Feed:
    """SQLite's feed as the waits see it: a check that counts its looks and, once told
    to, reports a change (as a new data_version does, synchronously)."""

    def __init__(self) -> None:
        self.looks: list[float] = []
        self.waits: ExportWaits | None = None
        self.change_next = False
        self.reported_at = 0.0  # when the look that saw the change reported it

    def check(self) -> None:
        self.looks.append(time.monotonic())
        if self.change_next and self.waits is not None:
            self.change_next = False
            self.reported_at = time.monotonic()
            self.waits.something_changed()


def _fed_waits(feed: _Feed, rows: Callable[[list[str]], dict[str, Any]]) -> ExportWaits:
    waits = ExportWaits(
        rows=rows, version_of=lambda row: row, check_every_s=60, poll_feed=lambda: feed.check
    )
    feed.waits = waits
    return waits


def test_a_quiet_feed_is_read_less_and_less_often() -> None:
    version = datetime(2026, 1, 1, tzinfo=UTC)
    feed = _Feed()
    waits = _fed_waits(feed, lambda ids: dict.fromkeys(ids, version))

    async def scenario() -> None:
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        assert await waits.changed("e1", version, 0.6, or_=gone) is None

    asyncio.run(scenario())
    early = [t for t in feed.looks if t - feed.looks[0] < 0.2]
    late = [t for t in feed.looks if t - feed.looks[0] > 0.3]
    assert len(early) >= 20  # every 2 ms at first (on a slow machine, fewer)
    assert len(late) <= 32  # every 10 ms after a quarter of a second quiet: ~30 in 0.3 s
    assert len(late) < len(early)


def test_a_change_after_a_quiet_while_is_still_heard_within_the_interval() -> None:
    before, after = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    feed = _Feed()
    current = {"e1": before}
    waits = _fed_waits(feed, lambda ids: {i: current[i] for i in ids})

    def change() -> None:
        current["e1"] = after
        feed.change_next = True

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()
        loop.call_later(0.5, change)
        row = await waits.changed("e1", before, 5, or_=gone)
        assert row == after
        return time.monotonic()

    heard = asyncio.run(scenario())
    assert feed.reported_at > 0
    assert heard - feed.reported_at < 0.2  # the look that saw it, then one read


def test_a_write_of_this_process_ends_the_pause_at_once() -> None:
    before, after = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    current = {"e1": before}
    # No feed to poll: only the full check (every 60 s) or a nudge reads the rows.
    waits = ExportWaits(
        rows=lambda ids: {i: current[i] for i in ids}, version_of=lambda r: r, check_every_s=60
    )

    def write() -> None:
        current["e1"] = after
        waits.something_changed()

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()
        started = time.monotonic()
        threading.Timer(0.3, write).start()  # from another thread, as the row cache calls
        assert await waits.changed("e1", before, 10, or_=gone) == after
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 2


def end_job(db: Database, export_id: str, state: str) -> None:
    """What a worker's settle writes for a job that ends ``state`` (final)."""
    now = SystemClock().now()
    with db.write() as conn:
        job_id = conn.execute(select(exports.c.job_id).where(exports.c.id == export_id)).scalar()
        conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id)
            .values(state=state, finished_at=now, updated_at=now)
        )


def long_poll_until_final(api: Api, export_id: str, etag: str | None, wait_s: int = 10) -> Any:
    headers = {**api.as_user("alice"), "Prefer": f"wait={wait_s}"}
    if etag is not None:
        headers["If-None-Match"] = etag
    return api.client.get(f"/v1/exports/{export_id}?until=final", headers=headers)


def test_until_final_holds_through_changes_and_answers_the_outcome(
    api: Api, other: Database, later: Later
) -> None:
    export_id, etag = created(api)
    later(0.2, functools.partial(start_running, other, export_id))
    later(0.6, functools.partial(end_job, other, export_id, "cancelled"))
    started = time.monotonic()
    response = long_poll_until_final(api, export_id, etag)
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"  # not the running state in between
    assert 0.55 <= took < 5


def test_until_final_needs_no_etag_to_wait(api: Api, other: Database, later: Later) -> None:
    export_id, _ = created(api)
    later(0.3, functools.partial(end_job, other, export_id, "cancelled"))
    started = time.monotonic()
    response = long_poll_until_final(api, export_id, None)
    assert response.json()["status"] == "cancelled"
    assert time.monotonic() - started >= 0.25


def test_until_final_answers_a_final_export_at_once(api: Api) -> None:
    export_id, etag = created(api)
    cancelled = api.client.delete(f"/v1/exports/{export_id}", headers=api.as_user("alice"))
    assert cancelled.json()["status"] == "cancelled"
    started = time.monotonic()
    changed = long_poll_until_final(api, export_id, etag)
    assert changed.status_code == 200
    assert changed.json()["status"] == "cancelled"
    seen = long_poll_until_final(api, export_id, changed.headers["etag"])
    assert seen.status_code == 304  # final, and the client has it
    assert time.monotonic() - started < 2


def test_until_final_ends_with_the_wait_showing_what_changed(
    api: Api, other: Database, later: Later
) -> None:
    export_id, etag = created(api)
    later(0.2, functools.partial(start_running, other, export_id))
    started = time.monotonic()
    response = long_poll_until_final(api, export_id, etag, wait_s=1)
    assert response.status_code == 200  # the wait ended: the client sees the change
    assert response.json()["status"] == "running"
    assert time.monotonic() - started >= 0.95
    unchanged = long_poll_until_final(api, export_id, response.headers["etag"], wait_s=1)
    assert unchanged.status_code == 304


def test_until_takes_only_change_or_final(api: Api) -> None:
    export_id, etag = created(api)
    response = api.client.get(
        f"/v1/exports/{export_id}?until=done",
        headers={**api.as_user("alice"), "If-None-Match": etag, "Prefer": "wait=1"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_client_going_on_waiting_does_not_speed_the_feed_up_again() -> None:
    """A long poll waits again every few seconds (to read its export again) and after
    each change of another state: only a client's first wait makes the feed be looked
    at every 2 ms again."""
    version = datetime(2026, 1, 1, tzinfo=UTC)
    feed = _Feed()
    waits = _fed_waits(feed, lambda ids: dict.fromkeys(ids, version))

    async def scenario(new_wait: bool) -> float:
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await waits.changed("e1", version, 0.4, or_=gone)
        going_on = time.monotonic()
        await waits.changed("e1", version, 0.2, or_=gone, new_wait=new_wait)
        return going_on

    going_on = asyncio.run(scenario(new_wait=False))
    later = [t for t in feed.looks if going_on <= t < going_on + 0.15]
    assert len(later) <= 20  # every 10 ms: about 15 (a new wait: every 2 ms, about 75)
    feed.looks.clear()
    going_on = asyncio.run(scenario(new_wait=True))
    assert len([t for t in feed.looks if going_on <= t < going_on + 0.15]) > len(later)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_another_process_s_commit_rings_the_waiting_poll(
    settings: Settings,
    db: Database,
    other: Database,
    later: Later,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The commit rings the feed's doorbell (db/sqlite_bells.py): the poll is answered at
    once, not at the feed's next look (made 30 s here, against 2-50 ms)."""
    monkeypatch.setattr(long_polls, "RUNG_FEED_CHECK_S", 30.0)
    monkeypatch.setattr(long_polls, "FEED_CHECKS", ((0.0, 30.0),))
    for api in _api(settings.model_copy(update={"events_poll_interval_s": 30.0}), db):
        export_id, etag = created(api)
        later(0.3, functools.partial(start_running, other, export_id))
        started = time.monotonic()
        response = long_poll(api, export_id, etag)
        assert response.json()["status"] == "running"
        assert time.monotonic() - started < 3
