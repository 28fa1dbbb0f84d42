"""Settings of where state lives, of delivery (email, webhooks, destinations) and of
the API and documents: mixed into :class:`exportd.config.Settings`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from exportd.config.connections import CONNECTION_NAME, ConnectionSpec
from exportd.config.values import DEV_SECRET, web_origin, webhook_key


class StateSettings(BaseModel):
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
        default=5000,
        ge=0,
        description="how long a SQLite writer waits for its turn among the writers, then "
        "for the write lock (docs/queue.md, SQLite notes)",
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
    long_poll_max_s: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="the longest a status poll sent with `Prefer: wait` is held for a "
        "change (0: answered at once)",
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
    manifest_retired_keys: dict[str, Any] | None = Field(
        default=None,
        description="a JWK set of earlier signing keys' public keys (as saved from "
        "/.well-known/exportd-manifest-keys), still published so what they signed verifies",
    )
    arrow_fetch: bool = Field(
        default=True,
        description="fetch rows as Arrow batches through ADBC (SQLite, PostgreSQL: COPY) "
        "when its driver is installed; false fetches them through SQLAlchemy",
    )

    @field_validator("manifest_signing_key")
    @classmethod
    def _ed25519_key(cls, value: SecretStr | None) -> SecretStr | None:
        from exportd.manifest_keys import from_pem

        if value is not None:
            from_pem(value.get_secret_value())  # its ValueError names no part of the key
        return value

    @field_validator("manifest_retired_keys")
    @classmethod
    def _public_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from exportd.manifest_keys import read_public_keys

        if value is not None:
            read_public_keys(json.dumps(value))  # its ValueError says what the set is not
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


class DeliverySettings(BaseModel):
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


class ApiSettings(BaseModel):
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

    @field_validator("typst_font_dirs")
    @classmethod
    def _font_dirs_exist(cls, value: list[str]) -> list[str]:
        missing = [folder for folder in value if not Path(folder).is_dir()]
        if missing:
            raise ValueError(f"not a folder: {', '.join(missing)}")
        return value
