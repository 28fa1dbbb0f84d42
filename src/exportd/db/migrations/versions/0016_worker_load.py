"""What each worker runs and how much memory it holds, as of its last heartbeat (the
operator's console shows it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import JSONDocument

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workers", sa.Column("running_jobs", JSONDocument, nullable=True))
    op.add_column("workers", sa.Column("rss_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("rss_bytes")
        batch.drop_column("running_jobs")
