"""The event log, and where an export came from (the queue split).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import JSONDocument, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), server_default="user", nullable=False))
    op.create_table(
        "export_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("export_id", sa.String(32), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("owner_id", sa.String(255), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("format", sa.String(16), nullable=True),
        sa.Column("plan", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(80), nullable=True),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("detail", JSONDocument, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_events")),
    )
    op.create_index("ix_export_events_at", "export_events", ["at"])
    op.create_index("ix_export_events_kind_at", "export_events", ["kind", "at"])
    op.create_index("ix_export_events_export_id", "export_events", ["export_id"])


def downgrade() -> None:
    op.drop_table("export_events")
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("origin")
