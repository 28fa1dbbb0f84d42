"""Which file a download link is for: one of a split export's parts (NULL: the export's
main file, as before).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("download_tokens") as batch:
        batch.add_column(sa.Column("file", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("download_tokens") as batch:
        batch.drop_column("file")
