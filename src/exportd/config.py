"""Typed settings, read once at the edge (the CLI or the app factory) and passed in.

Every setting is an environment variable prefixed ``EXPORTD_``; a TOML file named by
``EXPORTD_CONFIG`` may supply the same keys (without the prefix, lower case).  The
environment wins over the file, the file over the defaults.  Nothing here runs at
import time: call :func:`load_settings`.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from exportd.errors import ConfigError

ENV_PREFIX = "EXPORTD_"
DEV_SECRET = "exportd-development-secret-change-me"  # noqa: S105 - refused in production
# HMAC keys shorter than the hash's output weaken it (RFC 2104, RFC 7518 3.2 for HS256);
# Standard Webhooks secrets are 24 to 64 bytes.
MIN_SECRET_BYTES = 32
MIN_WEBHOOK_SECRET_BYTES = 24


class KeepPolicy(BaseModel):
    """How many finished jobs to keep, by count and by age; ``None`` means no limit."""

    count: int | None = Field(default=None, ge=0)
    age_s: float | None = Field(default=None, ge=0)


CONNECTION_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite")
CONNECTION_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


class ConnectionSpec(BaseModel):
    """A named data connection: one of the host application's databases that sources
    read from (docs/connections.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = Field(
        description="postgresql://user@host/db, mysql://user@host/db (mariadb:// too) or "
        "sqlite:///path; the password better in password_env than here"
    )
    read_only: bool = Field(
        default=True,
        description="the database refuses writes on these sessions (PostgreSQL "
        "default_transaction_read_only, MySQL SET SESSION TRANSACTION READ ONLY, SQLite mode=ro)",
    )
    statement_timeout_s: float | None = Field(
        default=300.0, gt=0, description="a statement running longer is stopped by the database"
    )
    pool_size: int = Field(default=2, ge=1, le=64, description="connections kept per process")
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="the environment variable holding the password",
    )
    connect_timeout_s: int = Field(default=5, ge=1, le=120, description="connecting gives up")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().split("://", 1)[0].split("+", 1)[0].lower()
        if scheme not in CONNECTION_SCHEMES or "://" not in value.get_secret_value():
            raise ValueError("must start with postgresql://, mysql://, mariadb:// or sqlite:///")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> ConnectionSpec:
        # Both would leave one silently unused: say which one counts instead of guessing.
        if self.password_env and "@" in self.url.get_secret_value().split("://", 1)[-1]:
            userinfo = self.url.get_secret_value().split("://", 1)[-1].split("@", 1)[0]
            if ":" in userinfo:
                raise ValueError(
                    "the url holds a password and password_env names another: keep one "
                    "(password_env, so the password stays out of the file)"
                )
        return self

    @property
    def engine(self) -> Literal["postgresql", "mysql", "sqlite"]:
        scheme = self.url.get_secret_value().split("://", 1)[0].split("+", 1)[0].lower()
        if scheme in ("postgresql", "postgres"):
            return "postgresql"
        return "sqlite" if scheme == "sqlite" else "mysql"


class Settings(BaseSettings):
    """All of exportd's settings.  See docs/settings.md for the reference."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    env: Literal["development", "production"] = Field(
        default="development",
        description="production refuses development defaults (such as the secret key)",
    )

    # Where state lives.
    database_url: str = Field(
        default="sqlite:///./var/exportd.db",
        description="sqlite:///path or postgresql://user@host/db: the queue and all state",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=5000, ge=0, description="how long a SQLite writer waits for the write lock"
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET),
        description="signs links and tokens; must be set in production, at least 32 bytes",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="HS256 key of the host app's user tokens (development: the secret key); "
        "at least 32 bytes in production",
    )
    jwks_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="where the identity provider publishes its keys, for RS256/ES256 tokens",
    )

    cors_origins: list[str] = Field(
        default=[],
        description="web origins whose pages may call the /v1 API from a browser (a host "
        'app using the <exportd-export> element), as a JSON list: ["https://app.example.com"]; '
        "exact scheme://host[:port], no wildcard; none by default",
    )

    storage_url: str = Field(
        default="file://./var/exports",
        pattern=r"^(file|s3)://",
        description="where files are stored: file://path or s3://bucket/prefix "
        "(S3 needs the s3 extra; credentials from the AWS environment or role)",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="an S3-compatible endpoint (MinIO, Ceph, moto); AWS itself when unset",
    )
    s3_region: str | None = Field(default=None, description="the bucket's region (us-east-1)")
    s3_link_ttl_s: float = Field(
        default=300.0,
        gt=0,
        le=7 * 86_400,
        description="how long a presigned S3 download URL stays valid",
    )
    source_modules: list[str] = Field(
        default=[],
        description='sources to load, as "module:function" returning them (JSON list); '
        "exportd demo adds the demo sources",
    )
    sql_sources: list[dict[str, Any]] = Field(
        default=[],
        description="declarative SQL sources (usually [[sql_sources]] tables in the config "
        "file): name, title, sql binding :owner_id, columns, params; see docs/formats.md",
    )
    connections: dict[str, ConnectionSpec] = Field(
        default={},
        description="named data connections to the host application's databases "
        "([connections.NAME] tables in the config file, or a JSON object): url, read_only, "
        "statement_timeout_s, pool_size, password_env; see docs/connections.md",
    )
    cleanup_interval_seconds: float = Field(
        default=3600.0, gt=0, description="how often expired files are removed (one node)"
    )
    cleanup_batch_size: int = Field(
        default=100, ge=1, le=10_000, description="expired exports handled per cleanup step"
    )
    cleanup_dry_run: bool = Field(
        default=False, description="report what cleanup would remove, remove nothing"
    )
    cleanup_orphan_grace_s: float = Field(
        default=3600.0,
        ge=0,
        description="age before a file no export refers to is removed (covers writes in flight)",
    )
    events_poll_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="how often an event stream looks for changes"
    )
    poll_cache_rows: int = Field(
        default=10_000,
        ge=0,
        description="export rows an API process keeps between status polls, dropped on "
        "any change (0: off; PostgreSQL behind PgBouncer in transaction mode keeps it off)",
    )
    events_keepalive_s: float = Field(
        default=15.0, gt=0, description="a comment line this often keeps proxies from closing"
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="larger request bodies are refused (413)"
    )
    page_sign_in_demo: bool = Field(
        default=False,
        description="the /exports page offers one-click sign-in as the demo users "
        "(exportd demo turns it on; refused in production)",
    )
    page_session_ttl_s: float = Field(
        default=28_800.0,
        ge=60,
        le=30 * 86_400,
        description="the longest a sign-in on the /exports page lasts (the token's own "
        "expiry ends it sooner; signing out ends it at once)",
    )
    download_token_ttl_s: float = Field(
        default=900.0, gt=0, le=7 * 86_400, description="how long a download link stays valid"
    )
    export_batch_rows: int = Field(
        default=10_000, ge=100, le=1_000_000, description="rows per batch from a source"
    )
    split_min_rows: int = Field(
        default=1_000, ge=1, description="the fewest rows a part of a split export may hold"
    )
    split_min_bytes: int = Field(
        default=1 << 20, ge=1, description="the smallest part size a split export may ask for"
    )
    split_max_parts: int = Field(
        default=1_000, ge=1, le=9_999, description="the most parts one split export may make"
    )
    manifest_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 private key (PKCS#8 PEM) signing split exports' manifests; "
        "derived from EXPORTD_SECRET_KEY (HKDF-SHA256) when unset",
    )
    arrow_fetch: bool = Field(
        default=True,
        description="fetch rows as Arrow batches through ADBC (SQLite, PostgreSQL: COPY) "
        "when its driver is installed; false fetches them through SQLAlchemy",
    )

    # Delivery: email and webhooks.
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://",
        description="the API's address as users reach it, for links in emails and webhooks",
    )
    smtp_url: SecretStr | None = Field(
        default=None,
        description="smtp://host:port (plain, loopback only), smtp+starttls://user:pass@host:587 "
        "or smtps://user:pass@host:465; required in production",
    )
    email_from: str = Field(
        default="exportd <exports@localhost>", description="the From of notification emails"
    )
    email_domain: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="the domain of notification emails' Message-ID (default: the From "
        "address's domain, else the public URL's host)",
    )
    email_attach_max_bytes: int = Field(
        default=0,
        ge=0,
        le=25 << 20,
        description="attach the file to the email when it is at most this big (0: link only)",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="signing key of webhooks: whsec_<base64> as Standard Webhooks libraries "
        "read it (at least 24 bytes in production); derived from EXPORTD_SECRET_KEY when unset",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="allow webhooks to private, loopback and link-local addresses (tests, "
        "on-premises receivers)",
    )
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, le=60, description="how long one webhook request may take"
    )
    delivery_attempts: int = Field(
        default=6, ge=1, le=100, description="attempts per email or webhook before it is dead"
    )
    delivery_retry_cooldown_s: float = Field(
        default=30.0, ge=0, description="least time between two manual retries of a delivery"
    )
    destination_allow_private: bool = Field(
        default=False,
        description="allow destinations (S3 endpoints, SFTP hosts) on private, loopback and "
        "link-local addresses (tests, on-premises storage)",
    )
    destination_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="how long connecting to a destination, or one read or write on it, may take",
    )

    # The API.
    enable_exports: bool = Field(
        default=True, description="false: creating exports answers 503; reads keep working"
    )
    max_document_sections: int = Field(
        default=20, ge=1, le=200, description="sections a document may have (resume store)"
    )
    pdf_engine: Literal["weasyprint", "chromium"] = Field(
        default="weasyprint",
        description="prints HTML templates: weasyprint (pip only) or chromium "
        "(needs exportd[chromium] and Debian's chromium; ~0.7 GB per worker child)",
    )
    chromium_path: str | None = Field(
        default=None, description="the Chromium to drive (default: chromium on the PATH)"
    )
    chromium_restart_after: int = Field(
        default=200, ge=1, description="a worker's browser is restarted after this many PDFs"
    )
    typst_font_dirs: list[str] = Field(
        default_factory=list,
        description="font folders every PDF engine (Typst, WeasyPrint, Chromium) may use "
        "besides the bundled ones (none sees the system's fonts, so output does not depend "
        "on the machine): e.g. a CJK font deployed on every worker, as a JSON list",
    )
    document_max_pages: int = Field(
        default=20, ge=1, le=500, description="a rendered document longer than this fails"
    )
    preview_per_minute: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="document previews per user and minute (per API process)",
    )
    preview_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="a Typst preview's time budget: past it its process is killed (503 "
        "`preview_timed_out`); also the longest wait for a free preview process (503 "
        "`preview_busy`)",
    )
    preview_max_pages: int = Field(
        default=20,
        ge=1,
        le=500,
        description="a preview longer than this is refused (422 `preview_too_large`)",
    )
    preview_processes: int = Field(
        default=2,
        ge=1,
        le=64,
        description="processes compiling Typst previews, per API process (started at the "
        "first preview): at most this many cores go to previews",
    )
    export_retry_cooldown_s: float = Field(
        default=30.0, ge=0, description="least time between two retries of one export"
    )

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

    @field_validator("job_keep_completed", "job_keep_failed", mode="before")
    @classmethod
    def _keep_from_number(cls, value: Any) -> Any:
        # A bare number is the friendliest form: "keep the last N".
        if isinstance(value, int | str) and str(value).strip().isdigit():
            return {"count": int(value)}
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Receivers verify with a Standard Webhooks library, which base64-decodes the key:
        # a secret in any other form would sign what no receiver can check.
        if value is not None:
            try:
                webhook_key(value.get_secret_value())
            except ValueError:  # binascii.Error is one
                raise ValueError(
                    "must be whsec_ followed by base64, as Standard Webhooks libraries read "
                    "it (e.g. whsec_$(openssl rand -base64 32))"
                ) from None
        return value

    @field_validator("manifest_signing_key")
    @classmethod
    def _ed25519_key(cls, value: SecretStr | None) -> SecretStr | None:
        from exportd.manifest_keys import from_pem

        if value is not None:
            from_pem(value.get_secret_value())  # its ValueError names no part of the key
        return value

    @field_validator("typst_font_dirs")
    @classmethod
    def _font_dirs_exist(cls, value: list[str]) -> list[str]:
        missing = [folder for folder in value if not Path(folder).is_dir()]
        if missing:
            raise ValueError(f"not a folder: {', '.join(missing)}")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        return [web_origin(origin) for origin in value]

    @field_validator("connections")
    @classmethod
    def _connection_names(cls, value: dict[str, ConnectionSpec]) -> dict[str, ConnectionSpec]:
        bad = sorted(name for name in value if not CONNECTION_NAME.match(name))
        if bad:
            raise ValueError(f"connection names are lower-case identifiers, not {bad}")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def jwt_key(settings: Settings) -> str:
    """The HS256 key of user tokens (in development, the secret key stands in)."""
    secret = settings.jwt_secret or settings.secret_key
    return secret.get_secret_value()


def hs256_key(settings: Settings) -> str | None:
    """The HS256 key, or None when only JWKS tokens are accepted (production without one)."""
    if settings.jwt_secret is None and settings.env == "production":
        return None
    return jwt_key(settings)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and config file); bad values raise ConfigError.

    The message names each offending setting by its environment variable so an operator
    can fix it without reading a traceback.
    """
    config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"{ENV_PREFIX}CONFIG: no such file: {config_file}")
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:  # a list or a table that is not JSON
        raise ConfigError(_describe_unparsed(exc)) from None
    _check_production(settings)
    return settings


def _describe_unparsed(exc: SettingsError) -> str:
    field = re.search(r'field "(\w+)"', str(exc))
    name = ENV_PREFIX + field.group(1).upper() if field else "a setting"
    return f'invalid setting {name}: not JSON (a list is written ["a", "b"])'


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in error["loc"][:1]).upper()
        detail = ".".join(str(part) for part in error["loc"][1:])
        where = f"{name} ({detail})" if detail else name
        lines.append(f"invalid setting {where}: {error['msg']}")
    return "; ".join(lines)


def _check_production(settings: Settings) -> None:
    if settings.env != "production":
        return
    if settings.secret_key.get_secret_value() == DEV_SECRET:
        raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be set in production")
    if settings.jwt_secret is None and settings.jwks_url is None:
        raise ConfigError(
            f"{ENV_PREFIX}JWT_SECRET or {ENV_PREFIX}JWKS_URL must be set in production"
        )
    _check_secret_lengths(settings)
    if settings.page_sign_in_demo:
        raise ConfigError(
            f"{ENV_PREFIX}PAGE_SIGN_IN_DEMO lets anyone sign in as a demo user: not in production"
        )
    if settings.smtp_url is None:
        raise ConfigError(
            f"{ENV_PREFIX}SMTP_URL must be set in production (emails are a delivery channel)"
        )


def _check_secret_lengths(settings: Settings) -> None:
    """A short key can be guessed offline from one signed link or token: refuse it."""
    keys = [("SECRET_KEY", settings.secret_key, MIN_SECRET_BYTES)]
    if settings.jwt_secret is not None:
        keys.append(("JWT_SECRET", settings.jwt_secret, MIN_SECRET_BYTES))
    if settings.webhook_secret is not None:
        keys.append(("WEBHOOK_SECRET", settings.webhook_secret, MIN_WEBHOOK_SECRET_BYTES))
    for name, secret, minimum in keys:
        size = _key_bytes(name, secret.get_secret_value())
        if size < minimum:
            raise ConfigError(
                f"{ENV_PREFIX}{name} is {size} bytes long: production needs at least "
                f"{minimum} random bytes (e.g. `openssl rand -base64 48`)"
            )


def _key_bytes(name: str, value: str) -> int:
    # A webhook secret is whsec_<base64>: its key is what it decodes to.
    return len(webhook_key(value)) if name == "WEBHOOK_SECRET" else len(value.encode())


def webhook_key(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret, read as Standard Webhooks libraries read it
    (padding optional); ValueError for anything else."""
    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret is whsec_ followed by base64")
    encoded = secret.removeprefix("whsec_")
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def web_origin(text: str) -> str:
    """``text`` as a browser writes it in an ``Origin`` header (lower case, no default
    port), or ValueError: a listed origin written any other way would never match."""
    parts = urlsplit(text.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "*" in text
        or any((parts.path, parts.query, parts.fragment, parts.username, parts.password))
    ):
        raise ValueError(f"{text!r} is not an origin: scheme://host[:port], nothing after it")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port  # a port out of range is a ValueError too
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
