"""Settings of schedules, the queue and the worker: mixed into
:class:`exportd.config.Settings`."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator


class KeepPolicy(BaseModel):
    """How many finished jobs to keep, by count and by age; ``None`` means no limit."""

    count: int | None = Field(default=None, ge=0)
    age_s: float | None = Field(default=None, ge=0)


class ScheduleSettings(BaseModel):
    # Schedules (recurring exports).
    schedule_tick_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="how often due schedules are looked for (one node); a run starts "
        "at most this long after its due time",
    )
    schedule_tick_batch: int = Field(
        default=100, ge=1, le=10_000, description="due schedules started per look, at most"
    )
    schedule_min_interval_s: int = Field(
        default=60,
        ge=1,
        description="the shortest time between two runs of any schedule, whatever its plan "
        "allows (each plan has its own minimum too: the larger applies)",
    )
    schedule_max_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="failed runs in a row after which a schedule pauses itself",
    )


class QueueSettings(BaseModel):
    # The queue.
    job_attempts: int = Field(
        default=3, ge=1, le=100, description="attempts per job before it is dead-lettered"
    )
    job_backoff_ms: int = Field(
        default=10_000, ge=0, description="first retry delay; doubles per attempt, with jitter"
    )
    job_backoff_cap_ms: int = Field(default=600_000, ge=0, description="longest retry delay")
    job_timeout_s: float = Field(
        default=900.0, gt=0, description="time limit per attempt; past it the job fails"
    )
    job_lease_s: float = Field(
        default=30.0,
        ge=1,
        description="a claim's lease, renewed every third of it; an expired lease is rescued",
    )
    job_cancel_grace_s: float = Field(
        default=10.0, ge=0, description="time a cancelled job has to stop before it is killed"
    )
    job_keep_completed: KeepPolicy = Field(
        default=KeepPolicy(count=10_000, age_s=7 * 86_400),
        description='completed and cancelled jobs kept: a count, or {"count": N, "age_s": S}',
    )
    job_keep_failed: KeepPolicy = Field(
        default=KeepPolicy(count=50_000, age_s=30 * 86_400),
        description='failed jobs (the dead letter) kept: a count, or {"count": N, "age_s": S}',
    )
    poll_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="how often an idle worker looks for due jobs"
    )
    reaper_interval_s: float = Field(
        default=10.0, gt=0, description="how often expired leases are rescued (one node)"
    )
    retention_interval_s: float = Field(
        default=300.0, gt=0, description="how often finished jobs are pruned (one node)"
    )

    @field_validator("job_keep_completed", "job_keep_failed", mode="before")
    @classmethod
    def _keep_from_number(cls, value: Any) -> Any:
        # A bare number is the friendliest form: "keep the last N".
        if isinstance(value, int | str) and str(value).strip().isdigit():
            return {"count": int(value)}
        return value


class WorkerSettings(BaseModel):
    # The worker.
    worker_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 2,
        ge=1,
        le=256,
        description="child processes per worker, each running one job (default: CPU count)",
    )
    worker_shutdown_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="on SIGTERM, time for running jobs to finish before they are handed back",
    )
    worker_prefetch: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="jobs claimed ahead of free children; raise for floods of short jobs",
    )
    worker_wakeups: bool = Field(
        default=True,
        description="LISTEN/NOTIFY (or SQLite change watch) for instant pickup; "
        "turn off behind PgBouncer in transaction mode",
    )
    worker_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="a worker serves /metrics on this port (0: off)"
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1", description="the interface a worker's /metrics listens on"
    )
    alert_window_s: float = Field(
        default=900.0, gt=0, description="the failure-ratio alert looks at this many seconds"
    )
    alert_min_events: int = Field(
        default=20, ge=1, description="finished exports needed in the window before it judges"
    )
    alert_failure_ratio: float = Field(
        default=0.2, gt=0, le=1, description="the failed share of finished exports that fires it"
    )
    alert_cooldown_s: float = Field(
        default=3600.0, ge=0, description="least time between two firings"
    )
    alert_interval_s: float = Field(
        default=60.0, gt=0, description="how often the alert is checked (one node)"
    )
    alert_webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="also POST a signed alert.fired webhook here when it fires",
    )
    event_retention_days: float = Field(
        default=30.0, gt=0, description="how long rows of the event log (export_events) are kept"
    )
    memory_limit_mb: int = Field(
        default=1024,
        ge=16,
        description="resident memory per job (its process tree); past it the job fails",
    )
    task_modules: list[str] = Field(
        default=[], description='extra modules with tasks, as a JSON list: ["my.tasks"]'
    )

    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: JSON unless on a terminal in development"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="the lowest level logged"
    )
    otel_enabled: bool = Field(
        default=False,
        description="OpenTelemetry traces (needs exportd[otel]); the OTEL_* variables "
        "configure the exporter, service name and sampler",
    )
    otel_exporter: str = Field(
        default="otlp",
        pattern=r"^(otlp|console|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$",
        description="otlp (HTTP, OTEL_EXPORTER_OTLP_ENDPOINT), console, or "
        "package.module:function returning a SpanExporter",
    )
