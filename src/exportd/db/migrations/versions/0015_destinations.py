"""Destinations: the customer's own storage (S3, SFTP) that exports are delivered to.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import JSONDocument, UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("config", JSONDocument, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('s3', 'sftp')", name=op.f("ck_destinations_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destinations")),
        sa.UniqueConstraint("owner_id", "name", name="uq_destinations_owner_name"),
    )
    with op.batch_alter_table("exports") as batch:
        batch.add_column(sa.Column("destinations", JSONDocument, nullable=True))
        batch.add_column(sa.Column("destination_status", JSONDocument, nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(op.f("ck_deliveries_channel"), type_="check")
        batch.create_check_constraint(
            op.f("ck_deliveries_channel"), "channel IN ('email', 'webhook', 'destination')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE channel = 'destination'")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(op.f("ck_deliveries_channel"), type_="check")
        batch.create_check_constraint(
            op.f("ck_deliveries_channel"), "channel IN ('email', 'webhook')"
        )
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("destination_status")
        batch.drop_column("destinations")
    op.drop_table("destinations")
