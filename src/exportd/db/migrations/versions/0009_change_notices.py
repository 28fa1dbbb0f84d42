"""PostgreSQL: NOTIFY exportd_changes on every change an export's status poll can see.

The API keeps export rows between polls (exports/row_cache.py) and drops one when it
hears of a change.  Triggers rather than application code: every writer is covered —
the API, workers, cleanup, an operator's psql.  Job updates notify only when a column
the export's view reads changed (not for lease renewals).  SQLite needs nothing here:
the API watches its ``data_version``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_STATEMENTS = (
    """
CREATE FUNCTION exportd_export_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('exportd_changes', 'export:' || OLD.id);
    ELSE
        PERFORM pg_notify('exportd_changes', 'export:' || NEW.id);
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE FUNCTION exportd_job_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('exportd_changes', 'job:' || NEW.id);
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER exports_changed AFTER UPDATE OR DELETE ON exports
    FOR EACH ROW EXECUTE FUNCTION exportd_export_changed()
""",
    """
CREATE TRIGGER jobs_changed AFTER UPDATE ON jobs FOR EACH ROW
    WHEN (
        OLD.state IS DISTINCT FROM NEW.state
        OR OLD.progress IS DISTINCT FROM NEW.progress
        OR OLD.result IS DISTINCT FROM NEW.result
        OR OLD.error IS DISTINCT FROM NEW.error
        OR OLD.started_at IS DISTINCT FROM NEW.started_at
        OR OLD.finished_at IS DISTINCT FROM NEW.finished_at
        OR OLD.updated_at IS DISTINCT FROM NEW.updated_at
    )
    EXECUTE FUNCTION exportd_job_changed()
""",
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER jobs_changed ON jobs")
    op.execute("DROP TRIGGER exports_changed ON exports")
    op.execute("DROP FUNCTION exportd_job_changed()")
    op.execute("DROP FUNCTION exportd_export_changed()")
