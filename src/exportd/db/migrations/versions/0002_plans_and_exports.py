"""Plan limits (seeded with free and pro) and exports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import JSONDocument, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MB = 1024 * 1024
ROW_FORMATS = ["csv", "jsonl", "json", "xlsx"]
DOCUMENT_FORMATS = ["pdf", "html"]


def upgrade() -> None:
    plans = op.create_table(
        "plan_limits",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("max_active_jobs", sa.Integer(), nullable=False),
        sa.Column("max_batch_size", sa.Integer(), nullable=False),
        sa.Column("storage_quota_bytes", sa.BigInteger(), nullable=False),
        sa.Column("daily_export_bytes", sa.BigInteger(), nullable=False),
        sa.Column("max_rows", sa.BigInteger(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("formats_allowed", JSONDocument, nullable=False),
        sa.Column("watermark", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "max_active_jobs >= 1 AND max_batch_size >= 1 AND retention_days >= 1",
            name=op.f("ck_plan_limits_positive"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_plan_limits")),
    )
    op.bulk_insert(
        plans,
        [
            {
                "name": "free",
                "max_active_jobs": 3,
                "max_batch_size": 10,
                "storage_quota_bytes": 100 * MB,
                "daily_export_bytes": 500 * MB,
                "max_rows": 100_000,
                "retention_days": 7,
                "formats_allowed": ROW_FORMATS + DOCUMENT_FORMATS,
                "watermark": True,
            },
            {
                "name": "pro",
                "max_active_jobs": 10,
                "max_batch_size": 10,
                "storage_quota_bytes": 10 * 1024 * MB,
                "daily_export_bytes": 50 * 1024 * MB,
                "max_rows": 10_000_000,
                "retention_days": 7,
                "formats_allowed": [*ROW_FORMATS, "parquet", *DOCUMENT_FORMATS],
                "watermark": False,
            },
        ],
    )
    op.create_table(
        "exports",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("params", JSONDocument, nullable=False),
        sa.Column("columns", JSONDocument, nullable=True),
        sa.Column("template", sa.String(128), nullable=True),
        sa.Column("notify", JSONDocument, nullable=True),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", JSONDocument, nullable=True),
        sa.Column("result", JSONDocument, nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
        sa.Column("retries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_retry_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'expired')",
            name=op.f("ck_exports_status"),
        ),
        sa.ForeignKeyConstraint(
            ["plan"], ["plan_limits.name"], name=op.f("fk_exports_plan_plan_limits")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_exports_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
        sa.UniqueConstraint("owner_id", "idempotency_key", name="uq_exports_owner_idempotency_key"),
    )
    op.create_index("ix_exports_owner_created", "exports", ["owner_id", "created_at"])
    op.create_index("ix_exports_job_id", "exports", ["job_id"])


def downgrade() -> None:
    op.drop_table("exports")
    op.drop_table("plan_limits")
