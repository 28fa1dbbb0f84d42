"""Every export's job carries its owner as its fair key.

Jobs queued before 0017 have none; an owner's active exports are now counted from the
owner's active jobs (``ix_jobs_fair_key``), whose plan needs no table statistics, so a
job still queued, running or failed (a retry re-queues it) from before then must carry
it too.  Data only: a downgrade has nothing to undo.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    jobs = sa.table("jobs", sa.column("id", sa.BigInteger), sa.column("fair_key", sa.String))
    exports = sa.table(
        "exports", sa.column("job_id", sa.BigInteger), sa.column("owner_id", sa.String)
    )
    owner = sa.select(exports.c.owner_id).where(exports.c.job_id == jobs.c.id).scalar_subquery()
    linked = sa.select(exports.c.job_id).where(exports.c.job_id.is_not(None))
    op.execute(
        jobs.update().where(jobs.c.fair_key.is_(None), jobs.c.id.in_(linked)).values(fair_key=owner)
    )


def downgrade() -> None:
    pass
