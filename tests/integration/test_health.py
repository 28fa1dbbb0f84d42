from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import Settings, load_settings


def test_liveness_and_readiness(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"storage_url": f"file://{tmp_path / 'files'}"})
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "storage": "ok"}


def test_not_ready_when_storage_is_unwritable(
    settings: Settings, s3_endpoint: str, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"storage_url": "s3://no-such-bucket/x", "s3_endpoint_url": s3_endpoint}
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"] == "unavailable: S3 could not upload: NoSuchBucket"


def test_not_ready_when_migrations_are_behind(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"] == "behind"


def test_not_ready_when_the_database_is_unreachable() -> None:
    settings = load_settings(database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")
