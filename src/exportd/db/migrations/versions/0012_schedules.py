"""Schedules (recurring exports): the schedules and their runs, an export's schedule and
whether it was skipped (no rows), and each plan's schedule limits.

Columns are only added to ``exports``: on SQLite a changed constraint would rebuild the
table, and dropping the old one inside the migration's transaction, with foreign keys
on, would delete its download tokens and deliveries with it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import JSONDocument, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RunId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch): SQLite adds them in place, nothing is rebuilt.
    op.add_column(
        "plan_limits", sa.Column("max_schedules", sa.Integer(), server_default="5", nullable=False)
    )
    op.add_column(
        "plan_limits",
        sa.Column("min_schedule_interval_s", sa.Integer(), server_default="3600", nullable=False),
    )
    plans = sa.table(
        "plan_limits",
        sa.column("name", sa.String),
        sa.column("max_schedules", sa.Integer),
        sa.column("min_schedule_interval_s", sa.Integer),
    )
    op.execute(
        plans.update()
        .where(plans.c.name == "pro")
        .values(max_schedules=50, min_schedule_interval_s=300)
    )
    op.add_column("exports", sa.Column("schedule_id", sa.String(32), nullable=True))
    for flag in ("skip_if_empty", "skipped"):
        op.add_column(
            "exports", sa.Column(flag, sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index("ix_exports_schedule_id", "exports", ["schedule_id"])
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("owner_email", sa.String(320), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("request", JSONDocument, nullable=False),
        sa.Column("cron", sa.String(120), nullable=True),
        sa.Column("every", sa.String(16), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("anchor_at", UTCDateTime(), nullable=False),
        sa.Column("skip_if_empty", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("paused_reason", sa.String(16), nullable=True),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", JSONDocument, nullable=True),
        sa.Column("next_due_at", UTCDateTime(), nullable=False),
        sa.Column("last_due_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_export_id", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("(cron IS NULL) <> (every IS NULL)", name=op.f("ck_schedules_timing")),
        sa.CheckConstraint(
            "paused_reason IN ('owner', 'failures')", name=op.f("ck_schedules_paused_reason")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index("ix_schedules_owner_created", "schedules", ["owner_id", "created_at"])
    op.create_index(
        "ix_schedules_due",
        "schedules",
        ["next_due_at"],
        postgresql_where=sa.text("active"),
        sqlite_where=sa.text("active"),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("id", RunId, autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.String(32), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("missed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("export_id", sa.String(32), nullable=True),
        sa.Column("error", JSONDocument, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('queued', 'refused')", name=op.f("ck_schedule_runs_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_runs_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_runs")),
        sa.UniqueConstraint("schedule_id", "due_at", name="uq_schedule_runs_schedule_id_due_at"),
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
    op.drop_table("schedules")
    op.drop_index("ix_exports_schedule_id", "exports")
    with op.batch_alter_table("exports") as batch:
        batch.drop_column("skipped")
        batch.drop_column("skip_if_empty")
        batch.drop_column("schedule_id")
    with op.batch_alter_table("plan_limits") as batch:
        batch.drop_column("min_schedule_interval_s")
        batch.drop_column("max_schedules")
