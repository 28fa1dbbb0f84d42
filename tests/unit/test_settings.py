from __future__ import annotations

from pathlib import Path

import pytest

from exportd.config import KeepPolicy, load_settings
from exportd.errors import ConfigError


def test_defaults_serve_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXPORTD_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///./var/exportd.db"
    assert (settings.job_attempts, settings.job_backoff_ms) == (3, 10_000)
    assert settings.env == "development"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTD_JOB_ATTEMPTS", "5")
    monkeypatch.setenv("EXPORTD_JOB_KEEP_FAILED", "12")
    monkeypatch.setenv("EXPORTD_JOB_KEEP_COMPLETED", '{"count": 3, "age_s": 60}')
    settings = load_settings()
    assert settings.job_attempts == 5
    assert settings.job_keep_failed == KeepPolicy(count=12)
    assert settings.job_keep_completed == KeepPolicy(count=3, age_s=60)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXPORTD_JOB_ATTEMPTS", "0"),
        ("EXPORTD_JOB_BACKOFF_MS", "soon"),
        ("EXPORTD_DATABASE_URL", "mysql://x"),
        ("EXPORTD_LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message.startswith(f"invalid setting {name}")


def test_config_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "exportd.toml"
    config.write_text('job_attempts = 7\ndatabase_url = "postgresql://db/exportd"\n')
    monkeypatch.setenv("EXPORTD_CONFIG", str(config))
    monkeypatch.setenv("EXPORTD_JOB_ATTEMPTS", "2")
    monkeypatch.delenv("EXPORTD_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url == "postgresql://db/exportd"
    assert settings.job_attempts == 2


def test_a_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EXPORTD_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="EXPORTD_CONFIG"):
        load_settings()


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTD_ENV", "production")
    with pytest.raises(ConfigError, match="EXPORTD_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("EXPORTD_SECRET_KEY", "a-real-secret-of-thirty-two-bytes")
    with pytest.raises(ConfigError, match="EXPORTD_JWT_SECRET or EXPORTD_JWKS_URL"):
        load_settings()
    monkeypatch.setenv("EXPORTD_JWT_SECRET", "the-host-apps-key-of-at-least-32-bytes")
    with pytest.raises(ConfigError, match="EXPORTD_SMTP_URL"):
        load_settings()
    monkeypatch.setenv("EXPORTD_SMTP_URL", "smtp+starttls://mailer:pw@mail.example:587")
    assert load_settings().env == "production"


def _production(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    base = {
        "ENV": "production",
        "SECRET_KEY": "k" * 32,
        "JWT_SECRET": "j" * 32,
        "SMTP_URL": "smtp+starttls://mailer:pw@mail.example:587",
    }
    for name, value in (base | settings).items():
        monkeypatch.setenv(f"EXPORTD_{name}", value)


@pytest.mark.parametrize(
    ("name", "value", "length"),
    [
        ("SECRET_KEY", "", 0),
        ("SECRET_KEY", "x", 1),
        ("SECRET_KEY", "k" * 31, 31),
        ("JWT_SECRET", "j", 1),
        ("JWT_SECRET", "é" * 15, 30),  # bytes, not characters
        ("WEBHOOK_SECRET", "whsec_" + "A" * 28, 21),  # base64 of 21 bytes
    ],
)
def test_production_refuses_short_secrets_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, length: int
) -> None:
    _production(monkeypatch, **{name: value})
    with pytest.raises(ConfigError, match=f"EXPORTD_{name} is {length} bytes long"):
        load_settings()


def test_production_takes_secrets_of_full_length(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch, WEBHOOK_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert load_settings().env == "production"
    monkeypatch.setenv("EXPORTD_ENV", "development")
    monkeypatch.setenv("EXPORTD_SECRET_KEY", "x")  # development keeps its convenience
    assert load_settings().env == "development"


def test_sql_sources_come_from_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "exportd.toml"
    config.write_text(
        "[[sql_sources]]\n"
        'name = "wins"\n'
        'title = "Wins"\n'
        "sql = '''SELECT pnl FROM demo_trades WHERE owner_id = :owner_id AND pnl > 0'''\n"
        'columns = [{name = "pnl", type = "number"}]\n'
    )
    monkeypatch.setenv("EXPORTD_CONFIG", str(config))
    [spec] = load_settings().sql_sources
    assert spec["name"] == "wins"
    assert spec["columns"] == [{"name": "pnl", "type": "number"}]


def test_cors_origins_are_written_as_browsers_send_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "EXPORTD_CORS_ORIGINS",
        '["https://App.Example.com:443", "http://localhost:5173", "http://[::1]:80"]',
    )
    assert load_settings().cors_origins == [
        "https://app.example.com",
        "http://localhost:5173",
        "http://[::1]",
    ]


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://*.example.com",
        "https://app.example.com/",
        "https://app.example.com/x",
        "app.example.com",
        "ftp://app.example.com",
        "https://user@app.example.com",
        "https://app.example.com:99999",
    ],
)
def test_a_cors_origin_must_be_exact(monkeypatch: pytest.MonkeyPatch, origin: str) -> None:
    monkeypatch.setenv("EXPORTD_CORS_ORIGINS", f'["{origin}"]')
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.message.startswith("invalid setting EXPORTD_CORS_ORIGINS")


@pytest.mark.parametrize("name", ["EXPORTD_CORS_ORIGINS", "EXPORTD_SOURCE_MODULES"])
def test_a_list_that_is_not_json_is_named_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "https://app.example.com")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert (
        caught.value.message == f'invalid setting {name}: not JSON (a list is written ["a", "b"])'
    )
