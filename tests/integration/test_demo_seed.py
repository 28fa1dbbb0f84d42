from __future__ import annotations

from sqlalchemy import delete, func, select

from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import documents
from exportd.demo.seed import seed_demo
from exportd.demo.tables import demo_trades
from exportd.queue import JobStore


def test_the_demo_seeds_trades_and_a_default_resume_once(db: Database, settings: Settings) -> None:
    store = JobStore.from_settings(settings)
    assert seed_demo(db, store) is True
    assert seed_demo(db, store) is False  # a second start reuses the data
    with db.read() as conn:
        trades = conn.execute(select(func.count()).select_from(demo_trades)).scalar_one()
        resumes = conn.execute(
            select(documents.c.owner_id, documents.c.is_default).order_by(documents.c.owner_id)
        ).all()
    assert trades == 50_000
    assert [tuple(r) for r in resumes] == [("alice", True), ("bob", True)]


def test_a_start_stopped_while_seeding_is_completed_by_the_next(
    db: Database, settings: Settings
) -> None:
    store = JobStore.from_settings(settings)
    seed_demo(db, store)
    with db.write() as conn:  # as if stopped after the trades, before the resumes
        conn.execute(delete(documents))
    assert seed_demo(db, store) is True
    with db.read() as conn:
        owners = conn.execute(select(documents.c.owner_id).order_by(documents.c.owner_id))
        assert owners.scalars().all() == ["alice", "bob"]
    assert seed_demo(db, store) is False
