"""Fair queues: a job's fair key, limit and round (owners take turns), each plan's
``max_running``, and ``queue_states`` (paused queues).

Only columns and indexes are added in place: SQLite rebuilds nothing.  The free plan
runs at most 2 exports of one owner at once; pro is not limited beyond its workers.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

FAIR_KEY_WHERE = sa.text("fair_key IS NOT NULL")
QUEUED = sa.text("state = 'queued'")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("fair_key", sa.String(255), nullable=True))
    op.add_column("jobs", sa.Column("fair_limit", sa.Integer(), nullable=True))
    op.add_column(
        "jobs", sa.Column("fair_round", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index(
        "ix_jobs_claim",
        "jobs",
        ["queue", "priority", "fair_round", "run_after", "id"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    op.create_index(
        "ix_jobs_fair_key",
        "jobs",
        ["fair_key", "state", "queue", "priority", "fair_round"],
        postgresql_where=FAIR_KEY_WHERE,
        sqlite_where=FAIR_KEY_WHERE,
    )
    op.add_column("plan_limits", sa.Column("max_running", sa.Integer(), nullable=True))
    plans = sa.table("plan_limits", sa.column("name", sa.String), sa.column("max_running"))
    op.execute(plans.update().where(plans.c.name == "free").values(max_running=2))
    op.create_table(
        "queue_states",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("paused_by", sa.String(255), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_queue_states")),
    )


def downgrade() -> None:
    op.drop_table("queue_states")
    op.drop_column("plan_limits", "max_running")
    op.drop_index("ix_jobs_fair_key", table_name="jobs")
    op.drop_index("ix_jobs_claim", table_name="jobs")
    op.create_index(
        "ix_jobs_claim",
        "jobs",
        ["queue", "priority", "run_after", "id"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )
    for column in ("fair_round", "fair_limit", "fair_key"):
        op.drop_column("jobs", column)
