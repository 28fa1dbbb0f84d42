"""A ledger of each owner's quota usage, kept by triggers on ``exports``.

The storage and daily quotas summed the owner's exports on every check: three times an
export (asked for, file complete, settled), each time over every file the owner keeps
and every export of the last day, so a month-end run of 18,000 invoices spent 15 to 20 ms
a check.  Now:

- ``owner_usage.stored_bytes``: the bytes of the owner's files that count as stored
  (completed, or failed with a partial file; not deleted; with an expiry date).  What
  has passed its expiry but is not yet swept is subtracted at read time (few rows).
- ``owner_usage_slots``: the bytes of finished exports (completed, expired, failed) by
  the 10-minute slot of their ``updated_at``.  A day's usage is the whole slots after
  the one its start falls in, plus that slot's exports read one by one.

Triggers rather than application code: every writer is covered (the API, workers,
cleanup, an operator's SQL).  The reads in ``exports/quotas.py`` give the same sums the
scans gave (``tests/integration/test_usage_ledger.py`` checks them against the scans).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from exportd.db.types import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

STORED = "('completed', 'failed')"
FINISHED = "('completed', 'expired', 'failed')"


def _size(row: str, dialect: str) -> str:
    if dialect == "postgresql":
        return (
            f"COALESCE(({row}.result ->> 'stored_bytes')::bigint, "
            f"({row}.result ->> 'size')::bigint, 0)"
        )
    return (
        f"COALESCE(CAST(json_extract({row}.result, '$.stored_bytes') AS INTEGER), "
        f"CAST(json_extract({row}.result, '$.size') AS INTEGER), 0)"
    )


def _slot(row: str, dialect: str) -> str:
    if dialect == "postgresql":
        return f"date_bin('10 minutes', {row}.updated_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    # SQLite keeps UTC text 'YYYY-MM-DD HH:MM:SS.ffffff': cut after the tens of minutes.
    return f"substr({row}.updated_at, 1, 15) || '0:00.000000'"


def _stored(row: str, dialect: str) -> str:
    """What the row adds to its owner's stored bytes."""
    return (
        f"(CASE WHEN {row}.status IN {STORED} AND {row}.deleted_at IS NULL "
        f"AND {row}.expires_at IS NOT NULL THEN {_size(row, dialect)} ELSE 0 END)"
    )


def _finished(row: str, dialect: str) -> str:
    """What the row adds to its owner's slot."""
    return f"(CASE WHEN {row}.status IN {FINISHED} THEN {_size(row, dialect)} ELSE 0 END)"


_ADD_STORED = (
    "INSERT INTO owner_usage (owner_id, stored_bytes) SELECT {owner}, {amount} "
    "WHERE {amount} <> 0 "
    "ON CONFLICT (owner_id) DO UPDATE "
    "SET stored_bytes = owner_usage.stored_bytes + excluded.stored_bytes"
)
_ADD_SLOT = (
    "INSERT INTO owner_usage_slots (owner_id, slot_start, bytes) SELECT {owner}, {slot}, {amount} "
    "WHERE {amount} <> 0 "
    "ON CONFLICT (owner_id, slot_start) DO UPDATE "
    "SET bytes = owner_usage_slots.bytes + excluded.bytes"
)


def _writes(dialect: str, *, old: bool, new: bool) -> list[str]:
    """The ledger's changes for a row going from OLD to NEW (either may be absent): on an
    update that keeps the owner (and slot) one net change, else OLD out and NEW in."""
    s = {r: _stored(r, dialect) for r in ("OLD", "NEW")}
    f = {r: _finished(r, dialect) for r in ("OLD", "NEW")}
    slot = {r: _slot(r, dialect) for r in ("OLD", "NEW")}
    if old and new:
        same_owner = "OLD.owner_id = NEW.owner_id"
        same_slot = f"{same_owner} AND {slot['OLD']} = {slot['NEW']}"
        return [
            _ADD_STORED.format(
                owner="NEW.owner_id",
                amount=f"({s['NEW']} - CASE WHEN {same_owner} THEN {s['OLD']} ELSE 0 END)",
            ),
            _ADD_STORED.format(
                owner="OLD.owner_id",
                amount=f"(CASE WHEN {same_owner} THEN 0 ELSE -{s['OLD']} END)",
            ),
            _ADD_SLOT.format(
                owner="NEW.owner_id",
                slot=slot["NEW"],
                amount=f"({f['NEW']} - CASE WHEN {same_slot} THEN {f['OLD']} ELSE 0 END)",
            ),
            _ADD_SLOT.format(
                owner="OLD.owner_id",
                slot=slot["OLD"],
                amount=f"(CASE WHEN {same_slot} THEN 0 ELSE -{f['OLD']} END)",
            ),
        ]
    row, sign = ("NEW", "") if new else ("OLD", "-")
    return [
        _ADD_STORED.format(owner=f"{row}.owner_id", amount=f"({sign}{s[row]})"),
        _ADD_SLOT.format(owner=f"{row}.owner_id", slot=slot[row], amount=f"({sign}{f[row]})"),
    ]


# An update that touches none of these leaves the ledger as it was (downloads, deliveries).
_WATCHED = ("owner_id", "status", "result", "deleted_at", "expires_at", "updated_at")


def _postgres_statements() -> list[str]:
    def body(**kind: bool) -> str:
        return ";\n        ".join(_writes("postgresql", **kind)) + ";"

    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _WATCHED)
    return [
        f"""
CREATE FUNCTION exportd_usage_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {body(old=False, new=True)}
    ELSIF TG_OP = 'DELETE' THEN
        {body(old=True, new=False)}
    ELSE
        {body(old=True, new=True)}
    END IF;
    RETURN NULL;
END $$
""",
        """
CREATE TRIGGER exports_usage_inserted_deleted AFTER INSERT OR DELETE ON exports
    FOR EACH ROW EXECUTE FUNCTION exportd_usage_changed()
""",
        f"""
CREATE TRIGGER exports_usage_updated AFTER UPDATE ON exports FOR EACH ROW
    WHEN ({changed})
    EXECUTE FUNCTION exportd_usage_changed()
""",
    ]


def _sqlite_statements() -> list[str]:
    def trigger(name: str, event: str, writes: list[str], when: str = "") -> str:
        statements = "".join(f"    {w};\n" for w in writes)
        condition = f" WHEN {when}" if when else ""
        return f"CREATE TRIGGER {name} AFTER {event} ON exports{condition}\nBEGIN\n{statements}END"

    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _WATCHED)
    return [
        trigger("exports_usage_inserted", "INSERT", _writes("sqlite", old=False, new=True)),
        trigger("exports_usage_deleted", "DELETE", _writes("sqlite", old=True, new=False)),
        trigger("exports_usage_updated", "UPDATE", _writes("sqlite", old=True, new=True), changed),
    ]


def _backfill(dialect: str) -> list[str]:
    e = "exports"
    return [
        f"INSERT INTO owner_usage (owner_id, stored_bytes) "
        f"SELECT owner_id, SUM({_stored(e, dialect)}) FROM exports GROUP BY owner_id",
        f"INSERT INTO owner_usage_slots (owner_id, slot_start, bytes) "
        f"SELECT owner_id, {_slot(e, dialect)}, SUM({_size(e, dialect)}) FROM exports "
        f"WHERE status IN {FINISHED} GROUP BY owner_id, {_slot(e, dialect)}",
    ]


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.create_table(
        "owner_usage",
        sa.Column("owner_id", sa.String(255), primary_key=True),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "owner_usage_slots",
        sa.Column("owner_id", sa.String(255), primary_key=True),
        sa.Column("slot_start", UTCDateTime(), primary_key=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False, server_default="0"),
    )
    # What the reads still look at row by row: files past expiry not yet swept, and the
    # exports of the slot a day's window starts in.
    op.create_index(
        "ix_exports_owner_expires",
        "exports",
        ["owner_id", "expires_at"],
        postgresql_where=sa.text(f"status IN {STORED} AND deleted_at IS NULL"),
        sqlite_where=sa.text(f"status IN {STORED} AND deleted_at IS NULL"),
    )
    op.create_index("ix_exports_owner_updated", "exports", ["owner_id", "updated_at"])
    for statement in _backfill(dialect):
        op.execute(statement)
    for statement in _postgres_statements() if dialect == "postgresql" else _sqlite_statements():
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER exports_usage_updated ON exports")
        op.execute("DROP TRIGGER exports_usage_inserted_deleted ON exports")
        op.execute("DROP FUNCTION exportd_usage_changed()")
    else:
        for name in ("exports_usage_inserted", "exports_usage_deleted", "exports_usage_updated"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_exports_owner_updated", table_name="exports")
    op.drop_index("ix_exports_owner_expires", table_name="exports")
    op.drop_table("owner_usage_slots")
    op.drop_table("owner_usage")
