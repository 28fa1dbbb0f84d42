"""The schema, as SQLAlchemy Core tables.  Alembic migrations must match it (a test checks).

Queue states are short strings guarded by CHECK constraints rather than native enums,
so SQLite and PostgreSQL share one schema and adding a state is a plain migration.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from exportd.db.types import JSONDocument, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

JOB_STATES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATES_SQL = "state IN ('queued', 'running')"

# BigInteger ids on PostgreSQL; SQLite needs INTEGER PRIMARY KEY to alias the rowid.
JobId = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    Column("id", JobId, primary_key=True, autoincrement=True),
    Column("queue", String(64), nullable=False, server_default="default"),
    Column("task", String(128), nullable=False),
    Column("payload", JSONDocument, nullable=False),
    Column("state", String(16), nullable=False, server_default="queued"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("run_after", UTCDateTime, nullable=False),
    # attempt is the fencing token: it grows on every claim and never goes back.
    Column("attempt", Integer, nullable=False, server_default="0"),
    # attempts_used counts against max_attempts; a graceful hand-back gives one back.
    Column("attempts_used", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout_s", Float, nullable=True),
    Column("unique_key", String(255), nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Column("worker_id", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    Column("progress", JSONDocument, nullable=True),
    Column("result", JSONDocument, nullable=True),
    Column("error", JSONDocument, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    # W3C traceparent of the span that enqueued the job (exportd.tracing; NULL when off).
    Column("traceparent", String(64), nullable=True),
    # Fairness (queue/enqueue.py): whose job it is (NULL: none), how many of that key's
    # jobs may run at once (NULL: no limit), and the key's turn when it was queued.
    Column("fair_key", String(255), nullable=True),
    Column("fair_limit", Integer, nullable=True),
    Column("fair_round", BigInteger, nullable=False, server_default="0"),
    CheckConstraint(
        "state IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="state"
    ),
    CheckConstraint("max_attempts >= 1", name="max_attempts"),
    # The claim path: only queued rows, in claim order (owners take turns by round).
    Index(
        "ix_jobs_claim",
        "queue",
        "priority",
        "fair_round",
        "run_after",
        "id",
        postgresql_where=text("state = 'queued'"),
        sqlite_where=text("state = 'queued'"),
    ),
    # The reaper: running rows by lease.
    Index(
        "ix_jobs_lease",
        "lease_expires_at",
        postgresql_where=text("state = 'running'"),
        sqlite_where=text("state = 'running'"),
    ),
    # At most one active job per unique key.
    Index(
        "uq_jobs_unique_key_active",
        "unique_key",
        unique=True,
        postgresql_where=text(ACTIVE_STATES_SQL),
        sqlite_where=text(ACTIVE_STATES_SQL),
    ),
    # Retention and listings of finished jobs.
    Index("ix_jobs_state_finished_at", "state", "finished_at"),
    # A key's running jobs (its limit) and its last round (the next job's turn).
    Index(
        "ix_jobs_fair_key",
        "fair_key",
        "state",
        "queue",
        "priority",
        "fair_round",
        postgresql_where=text("fair_key IS NOT NULL"),
        sqlite_where=text("fair_key IS NOT NULL"),
    ),
)

# Queues an operator paused: claims skip them until resumed.  A queue with no row runs.
queue_states = Table(
    "queue_states",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("paused_by", String(255), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

periodic_tasks = Table(
    "periodic_tasks",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("last_run_at", UTCDateTime, nullable=True),
    Column("locked_by", String(128), nullable=True),
    Column("locked_until", UTCDateTime, nullable=True),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("queues", JSONDocument, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime, nullable=True),
    # As of the last heartbeat: the jobs its children run ([{job_id, task, rss_bytes}])
    # and the memory of the supervisor and its children together.
    Column("running_jobs", JSONDocument, nullable=True),
    Column("rss_bytes", BigInteger, nullable=True),
)

# A named set of limits.  Every principal's plan must have a row here.
plan_limits = Table(
    "plan_limits",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("max_active_jobs", Integer, nullable=False),
    Column("max_batch_size", Integer, nullable=False),
    Column("storage_quota_bytes", BigInteger, nullable=False),
    Column("daily_export_bytes", BigInteger, nullable=False),
    Column("max_rows", BigInteger, nullable=False),
    Column("retention_days", Integer, nullable=False),
    Column("formats_allowed", JSONDocument, nullable=False),
    Column("watermark", Boolean, nullable=False),
    # Schedules (recurring exports): how many an owner may keep, and how often one may run.
    Column("max_schedules", Integer, nullable=False, server_default="5"),
    Column("min_schedule_interval_s", Integer, nullable=False, server_default="3600"),
    # How many of an owner's exports may run at once (NULL: no limit but the workers').
    # No CHECK here: adding one rebuilds the table on SQLite (see migration 0012); the
    # API refuses values under 1.
    Column("max_running", Integer, nullable=True),
    CheckConstraint(
        "max_active_jobs >= 1 AND max_batch_size >= 1 AND retention_days >= 1", name="positive"
    ),
)

exports = Table(
    "exports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("plan", String(64), ForeignKey("plan_limits.name"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("params", JSONDocument, nullable=False),
    Column("columns", JSONDocument, nullable=True),
    Column("template", String(128), nullable=True),
    Column("notify", JSONDocument, nullable=True),
    # The owner's destinations to deliver the file to (their ids, as asked), and each
    # one's delivery as it goes (written when the export completes and as each settles).
    Column("destinations", JSONDocument, nullable=True),
    Column("destination_status", JSONDocument, nullable=True),
    # How the file is written: delimiter, BOM, timezone (see formats.WriteOptions).
    Column("options", JSONDocument, nullable=True),
    # The job while it lives; the outcome is copied here when it settles.
    Column("job_id", JobId, ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(16), nullable=False),
    Column("error", JSONDocument, nullable=True),
    Column("result", JSONDocument, nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("request_hash", String(64), nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Column("retries", Integer, nullable=False, server_default="0"),
    Column("download_count", Integer, nullable=False, server_default="0"),
    Column("last_downloaded_at", UTCDateTime, nullable=True),
    # user: asked for by its owner; bulk: made by an admin's bulk run (the queue split).
    Column("origin", String(16), nullable=False, server_default="user"),
    Column("last_retry_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    # A schedule's run: which schedule (no foreign key: the export outlives it), and
    # whether a run of no rows ends with no file and no notice (``skipped``: it did; its
    # status stays ``completed`` here, the read model shows ``skipped``).
    Column("schedule_id", String(32), nullable=True),
    Column("skip_if_empty", Boolean, nullable=False, server_default=text("false")),
    Column("skipped", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint(
        "status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'expired')",
        name="status",
    ),
    UniqueConstraint("owner_id", "idempotency_key", name="uq_exports_owner_idempotency_key"),
    Index("ix_exports_owner_created", "owner_id", "created_at"),
    Index("ix_exports_job_id", "job_id"),
    Index("ix_exports_schedule_id", "schedule_id"),
    # The quota reads' few rows (exports/quotas.py): files past expiry not yet swept, and
    # the exports of the slot a day's window starts in.
    Index(
        "ix_exports_owner_expires",
        "owner_id",
        "expires_at",
        postgresql_where=text("status IN ('completed', 'failed') AND deleted_at IS NULL"),
        sqlite_where=text("status IN ('completed', 'failed') AND deleted_at IS NULL"),
    ),
    Index("ix_exports_owner_updated", "owner_id", "updated_at"),
)

# Each owner's quota usage, kept by triggers on ``exports`` (migration 0019): the bytes
# of the files it stores, and those of its finished exports by 10-minute slot.
owner_usage = Table(
    "owner_usage",
    metadata,
    Column("owner_id", String(255), primary_key=True),
    Column("stored_bytes", BigInteger, nullable=False, server_default="0"),
)

owner_usage_slots = Table(
    "owner_usage_slots",
    metadata,
    Column("owner_id", String(255), primary_key=True),
    Column("slot_start", UTCDateTime, primary_key=True),
    Column("bytes", BigInteger, nullable=False, server_default="0"),
)

documents = Table(
    "documents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("title", String(200), nullable=False),
    Column("content", JSONDocument, nullable=False),
    Column("is_default", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_documents_owner_updated", "owner_id", "updated_at"),
    # At most one default document per owner.
    Index(
        "uq_documents_owner_default",
        "owner_id",
        unique=True,
        postgresql_where=text("is_default"),
        sqlite_where=text("is_default"),
    ),
)

download_tokens = Table(
    "download_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("export_id", String(32), ForeignKey("exports.id", ondelete="CASCADE"), nullable=False),
    # sha256 of the whole token: the token itself is never stored.
    Column("token_hash", String(64), nullable=False),
    # The file it downloads, by name: one of a split export's files (NULL: the main one).
    Column("file", String(255), nullable=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_download_tokens_export_id", "export_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("export_id", String(32), ForeignKey("exports.id", ondelete="CASCADE"), nullable=False),
    Column("owner_id", String(255), nullable=False),
    Column("channel", String(16), nullable=False),
    # What the export became: export.completed or export.failed.
    Column("event", String(32), nullable=False),
    # The address or URL: the owner's own, shown only to the owner and admins.
    Column("target", String(2048), nullable=False),
    Column("job_id", JobId, ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", JSONDocument, nullable=True),
    Column("last_retry_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    CheckConstraint("channel IN ('email', 'webhook', 'destination')", name="channel"),
    CheckConstraint("status IN ('pending', 'sent', 'failed', 'cancelled')", name="status"),
    Index("ix_deliveries_owner_status", "owner_id", "status"),
    Index("ix_deliveries_export_id", "export_id"),
    Index("ix_deliveries_job_id", "job_id"),
)

destinations = Table(
    "destinations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    # Where and how to write (bucket, host, key template): never a credential.
    Column("config", JSONDocument, nullable=False),
    # The credentials, sealed with AES-GCM under a key derived from EXPORTD_SECRET_KEY and
    # bound to the destination's id and owner (destinations/secrets.py): never shown.
    Column("secret", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('s3', 'sftp')", name="kind"),
    UniqueConstraint("owner_id", "name", name="uq_destinations_owner_name"),
)

export_events = Table(
    "export_events",
    metadata,
    Column("id", JobId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    # No foreign keys: the log outlives pruned jobs and deleted exports.
    Column("export_id", String(32), nullable=True),
    Column("job_id", BigInteger, nullable=True),
    Column("owner_id", String(255), nullable=True),
    Column("attempt", Integer, nullable=True),
    Column("correlation_id", String(128), nullable=True),
    Column("source", String(64), nullable=True),
    Column("format", String(16), nullable=True),
    Column("plan", String(64), nullable=True),
    Column("reason", String(80), nullable=True),
    Column("code", String(64), nullable=True),
    Column("message", String(500), nullable=True),
    Column("detail", JSONDocument, nullable=True),
    Index("ix_export_events_at", "at"),
    Index("ix_export_events_kind_at", "kind", "at"),
    Index("ix_export_events_export_id", "export_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    # sha256 of the secret part: the key itself is shown once and never stored.
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
)

page_sessions = Table(
    "page_sessions",
    metadata,
    # sha256 of the cookie's random id: the id itself is never stored.
    Column("id_hash", String(64), primary_key=True),
    # The principal the token named at sign-in (user_id, plan, email, is_admin).
    Column("claims", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_page_sessions_expires_at", "expires_at"),
)

# Recurring exports: the export request, kept as asked, and when it next runs.
schedules = Table(
    "schedules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(255), nullable=False),
    # The owner's plan and email as of the last change: a run acts with them.
    Column("plan", String(64), nullable=False),
    Column("owner_email", String(320), nullable=True),
    Column("name", String(200), nullable=True),
    Column("request", JSONDocument, nullable=False),
    Column("cron", String(120), nullable=True),
    Column("every", String(16), nullable=True),
    Column("timezone", String(64), nullable=False),
    # Where an ``every`` interval counts from.
    Column("anchor_at", UTCDateTime, nullable=False),
    Column("skip_if_empty", Boolean, nullable=False, server_default=text("false")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("paused_reason", String(16), nullable=True),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("last_error", JSONDocument, nullable=True),
    Column("next_due_at", UTCDateTime, nullable=False),
    Column("last_due_at", UTCDateTime, nullable=True),
    Column("last_run_at", UTCDateTime, nullable=True),
    Column("last_export_id", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("(cron IS NULL) <> (every IS NULL)", name="timing"),
    CheckConstraint("paused_reason IN ('owner', 'failures')", name="paused_reason"),
    Index("ix_schedules_owner_created", "owner_id", "created_at"),
    # The tick's look-up: active schedules by due time.
    Index(
        "ix_schedules_due",
        "next_due_at",
        postgresql_where=text("active"),
        sqlite_where=text("active"),
    ),
)

# One row per run of a schedule.  (schedule_id, due_at) is unique: a due time runs once,
# however many workers look and however often they restart.  "Run now" has no due time.
schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", JobId, primary_key=True, autoincrement=True),
    Column(
        "schedule_id",
        String(32),
        ForeignKey("schedules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("due_at", UTCDateTime, nullable=True),
    # Due times passed over for this one (a catch-up after an outage runs once).
    Column("missed", Integer, nullable=False, server_default="0"),
    # queued: an export was made (export_id); refused: its request was refused (error).
    Column("outcome", String(16), nullable=False),
    Column("export_id", String(32), nullable=True),
    Column("error", JSONDocument, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("outcome IN ('queued', 'refused')", name="outcome"),
    UniqueConstraint("schedule_id", "due_at", name="uq_schedule_runs_schedule_id_due_at"),
)

__all__ = [
    "JOB_STATES",
    "api_keys",
    "deliveries",
    "destinations",
    "documents",
    "download_tokens",
    "export_events",
    "exports",
    "jobs",
    "metadata",
    "owner_usage",
    "owner_usage_slots",
    "page_sessions",
    "periodic_tasks",
    "plan_limits",
    "queue_states",
    "schedule_runs",
    "schedules",
    "workers",
]
