"""The quota ledger (migration 0019's triggers) gives the sums a scan of the owner's
exports gives, whatever writes the exports go through, on both backends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, update

from exportd.db import Database
from exportd.db.migrate import upgrade
from exportd.db.tables import exports, owner_usage_slots
from exportd.exports.quotas import prune_slots, scanned_usage, slot_of, stored_and_today
from tests.integration.test_migrations import unmigrated  # noqa: F401 - fixture

NOW = datetime(2026, 12, 5, 12, 34, 56, 789000, tzinfo=UTC)
OWNERS = ("ann", "bob", "cy")
STATUSES = ("queued", "running", "completed", "failed", "cancelled", "expired")


def a_result(rng: random.Random) -> dict[str, Any] | None:
    return rng.choice(
        [
            None,
            {"size": rng.randrange(1, 10_000), "rows": 3},
            {"size": 100, "stored_bytes": rng.randrange(100, 50_000)},
            {"size": 5 * 2**30 + rng.randrange(1, 10_000), "rows": 9},  # past 32 bits
            {"rows": 0},
        ]
    )


def a_time(rng: random.Random) -> datetime:
    # Around the day's edge and its slots, and now.
    edge = NOW - timedelta(days=1)
    return rng.choice([NOW, edge, slot_of(edge), slot_of(edge) + timedelta(minutes=10)]) + (
        timedelta(seconds=rng.randrange(-1500, 1500))
    )


def an_export(rng: random.Random, number: int) -> dict[str, Any]:
    return {
        "id": f"e{number}",
        "owner_id": rng.choice(OWNERS),
        "plan": "free",
        "source": "trades",
        "format": "csv",
        "params": {},
        "status": rng.choice(STATUSES),
        "result": a_result(rng),
        "expires_at": rng.choice([None, NOW - timedelta(hours=1), NOW + timedelta(days=3)]),
        "deleted_at": rng.choice([None, None, NOW]),
        "created_at": NOW - timedelta(days=2),
        "updated_at": a_time(rng),
    }


def change(conn: Connection, rng: random.Random, ids: list[str], number: int) -> None:
    """One write of the kind the service makes (or an operator could)."""
    if not ids or rng.random() < 0.25:
        row = an_export(rng, number)
        conn.execute(insert(exports), row)
        ids.append(row["id"])
        return
    target = rng.choice(ids)
    which = exports.c.id == target
    kind = rng.randrange(7)
    if kind == 0:
        conn.execute(delete(exports).where(which))
        ids.remove(target)
        return
    values: dict[str, Any] = [
        {"status": rng.choice(STATUSES), "updated_at": a_time(rng)},
        {"result": a_result(rng)},
        {"deleted_at": rng.choice([None, NOW])},
        {"expires_at": rng.choice([None, NOW - timedelta(minutes=5), NOW + timedelta(days=1)])},
        {"download_count": rng.randrange(5)},  # nothing the ledger counts
        {"owner_id": rng.choice(OWNERS), "updated_at": a_time(rng)},
    ][kind - 1]
    conn.execute(update(exports).where(which).values(values))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_ledger_sums_what_a_scan_sums(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    ids: list[str] = []
    for number in range(150):
        with db.write() as conn:
            for _ in range(rng.randrange(1, 4)):  # several writes in one transaction
                change(conn, rng, ids, number * 10 + _)
        with db.read() as conn:
            for owner in OWNERS:
                for now in (NOW, NOW + timedelta(minutes=7), slot_of(NOW)):
                    assert stored_and_today(conn, owner, now) == scanned_usage(conn, owner, now), (
                        f"owner {owner} at {now}, after write {number}"
                    )


def test_a_window_starting_on_a_slot_boundary(db: Database) -> None:
    boundary = slot_of(NOW)
    rows = [
        {**an_export(random.Random(0), i), "owner_id": "ann", "status": "completed",
         "deleted_at": None, "result": {"size": 10 ** i}, "updated_at": at}
        for i, at in enumerate(
            [boundary - timedelta(microseconds=1), boundary, boundary + timedelta(minutes=10)]
        )
    ]  # fmt: skip
    with db.write() as conn:
        conn.execute(insert(exports), rows)
    with db.read() as conn:
        # The window of ``now`` starts exactly at the boundary: the first row is outside.
        assert stored_and_today(conn, "ann", boundary + timedelta(days=1))[1] == 110
        assert stored_and_today(conn, "ann", boundary + timedelta(days=1, minutes=-1))[1] == 111


def test_old_slots_are_pruned(db: Database) -> None:
    with db.write() as conn:
        conn.execute(
            insert(exports),
            [
                {**an_export(random.Random(i), i), "status": "completed",
                 "result": {"size": 5}, "updated_at": NOW - timedelta(days=days)}
                for i, days in enumerate([0, 1, 3, 4])
            ],
        )  # fmt: skip
        assert prune_slots(conn, NOW) == 2
    with db.read() as conn:
        left = conn.execute(select(owner_usage_slots.c.slot_start)).scalars().all()
        assert sorted(left) == [slot_of(NOW - timedelta(days=1)), slot_of(NOW)]


def test_upgrading_fills_the_ledger_from_the_exports_there(unmigrated: Database) -> None:  # noqa: F811
    upgrade(unmigrated, "0018")
    rng = random.Random(7)
    with unmigrated.write() as conn:
        conn.execute(insert(exports), [an_export(rng, n) for n in range(60)])
    upgrade(unmigrated)
    with unmigrated.read() as conn:
        for owner in OWNERS:
            assert stored_and_today(conn, owner, NOW) == scanned_usage(conn, owner, NOW)
