"""Server-sent events follow an export to its end, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from exportd.config import Settings
from exportd.db import Database
from exportd.exports.lifecycle import record_outcome
from exportd.queue.models import Claimed, Outcome
from tests.support.artifacts import World, worker_of, world_for

# What the export task records of a file (ExportResult: the API types it).
RESULT = {"key": "alice/x/1/x.csv", "filename": "x.csv", "content_type": "text/csv",
          "size": 12, "sha256": "0" * 64, "row_count": 10}  # fmt: skip


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    with world_for(
        settings, db, tmp_path, events_poll_interval_s=0.05, events_keepalive_s=0.2
    ) as w:
        yield w


class Watcher:
    """What a reader has seen so far, for a driver that must not run ahead of it."""

    def __init__(self) -> None:
        self._seen: list[tuple[str, int | None]] = []
        self._changed = threading.Condition()

    def saw(self, event: dict) -> None:
        with self._changed:
            self._seen.append((event["status"], event["progress"]["rows_done"]))
            self._changed.notify_all()

    def wait_for(self, state: tuple[str, int | None]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: state in self._seen, timeout=30), self._seen


def read_events(
    world: World, export_id: str, watcher: Watcher | None = None, **headers: str
) -> tuple[list[dict], list[str]]:
    events, lines = [], []
    with world.api.client.stream(
        "GET",
        f"/v1/exports/{export_id}/events",
        headers={**world.api.as_user("alice"), **headers},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
                if watcher:
                    watcher.saw(events[-1])
    return events, lines


def drive_to_completion(
    world: World, export_id: str, watcher: Watcher | None = None
) -> threading.Thread:
    """Run the job by hand; with a watcher, each step waits until the stream saw the last."""
    service = world.api.client.app.state.exports  # type: ignore[attr-defined]

    def run() -> None:
        # The app's store runs on the test's clock: move it, as real time would.
        if watcher:
            watcher.wait_for(("queued", None))
        time.sleep(0.4)
        world.clock.advance(1)
        with world.db.write() as conn:
            [job] = service.store.claim(conn, worker_id="w", queues=["default"], limit=1)
        claim = Claimed(job.id, job.attempt)
        time.sleep(0.4)
        world.clock.advance(1)
        with world.db.write() as conn:
            service.store.record_progress(conn, claim, {"rows_done": 5, "rows_total": 10})
        if watcher:
            watcher.wait_for(("running", 5))
        time.sleep(0.4)
        world.clock.advance(1)
        with world.db.write() as conn:
            record_outcome(
                conn,
                service.store.settle(conn, Outcome(claim=claim, result=RESULT)),
                worker_of(service),
            )

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_events_follow_the_export_and_end_with_it(world: World) -> None:
    export_id = world.api.create("alice").json()["id"]
    watcher = Watcher()
    driver = drive_to_completion(world, export_id, watcher)
    events, lines = read_events(world, export_id, watcher)
    driver.join()
    seen = [(e["status"], e["progress"]["rows_done"]) for e in events]
    assert seen[0] == ("queued", None)
    assert ("running", 5) in seen
    assert seen[-1] == ("completed", 10)
    assert ": keep-alive" in lines
    ids = [int(line.removeprefix("id: ")) for line in lines if line.startswith("id: ")]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))


def test_last_event_id_resumes_after_what_was_seen(world: World) -> None:
    export_id = world.api.create("alice").json()["id"]
    drive_to_completion(world, export_id).join()
    events, lines = read_events(world, export_id)
    assert [e["status"] for e in events] == ["completed"]
    last_id = next(line for line in lines if line.startswith("id: ")).removeprefix("id: ")
    # The final state was seen: 204, which tells an EventSource not to come back.
    again = world.api.client.get(
        f"/v1/exports/{export_id}/events",
        headers={**world.api.as_user("alice"), "Last-Event-ID": last_id},
    )
    assert (again.status_code, again.content) == (204, b"")
    # An older id still gets the final state, then the stream ends.
    older, _ = read_events(world, export_id, **{"Last-Event-ID": str(int(last_id) - 1)})
    assert [e["status"] for e in older] == ["completed"]


def test_another_users_stream_is_not_found(world: World) -> None:
    export_id = world.api.create("alice").json()["id"]
    response = world.api.client.get(
        f"/v1/exports/{export_id}/events", headers=world.api.as_user("mallory")
    )
    assert (response.status_code, response.json()["code"]) == (404, "export_not_found")


@pytest.mark.parametrize(
    "value",
    [
        b"\xb2",  # "²" as a server reads Latin-1: str.isdigit() says yes, int() says no
        b"\xb9\xb2\xb3",
        "\u0661\u0662".encode(),  # Arabic-Indic digits (UTF-8 bytes)
        b"12a",
        b"-5",
    ],
)
def test_a_last_event_id_that_is_not_ours_is_refused(world: World, value: bytes) -> None:
    export_id = world.api.create("alice").json()["id"]
    # Cancelled: a header that were accepted would stream one event and end.
    world.api.client.delete(f"/v1/exports/{export_id}", headers=world.api.as_user("alice"))
    # TestClient re-encodes header values; the ASGI transport sends the bytes as they are.
    app = world.api.client.app
    token = world.api.token("alice")
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"last-event-id", value)]

    async def ask() -> httpx2.Response:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(f"/v1/exports/{export_id}/events", headers=headers)

    response = asyncio.run(ask())
    assert (response.status_code, response.json()["code"]) == (422, "last_event_id_invalid")
