"""Download tokens and the download count.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exports") as batch:
        batch.add_column(
            sa.Column("download_count", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "download_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("export_id", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["exports.id"],
            name=op.f("fk_download_tokens_export_id_exports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_download_tokens")),
    )
    op.create_index("ix_download_tokens_export_id", "download_tokens", ["export_id"])


def downgrade() -> None:
    op.drop_table("download_tokens")
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("download_count")
