"""Demo users' data: seeded once, reused on the next start."""

from __future__ import annotations

from sqlalchemy import func, select

from exportd.auth.principal import Principal
from exportd.db import Database
from exportd.demo.resumes import RESUMES
from exportd.demo.tables import (
    create_demo_tables,
    demo_trades,
    seed_goals_and_evaluations,
    seed_trades,
)
from exportd.documents.service import DocumentService
from exportd.queue import JobStore

DEMO_TRADES = {"alice": 25_000, "bob": 25_000}


def seed_demo(db: Database, store: JobStore) -> bool:
    """Fill the demo tables and give each demo user a resume, where missing; True if it
    seeded anything.  Each part is checked on its own, so a start stopped between them
    (a Ctrl-C while it seeds) is completed by the next."""
    with db.write() as conn:
        create_demo_tables(conn)
        seeded = not conn.execute(select(func.count()).select_from(demo_trades)).scalar_one()
        if seeded:
            for user, count in DEMO_TRADES.items():
                seed_trades(conn, user, count)
                seed_goals_and_evaluations(conn, user)
    documents = DocumentService(db=db, store=store, max_sections=20)
    for user, content in RESUMES.items():
        principal = Principal(user, "free")
        if not documents.list_documents(principal):
            documents.create(principal, title="Resume", content=content)
            seeded = True
    return seeded
