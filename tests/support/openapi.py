"""The app's OpenAPI document, as a client or a linter reads it (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exportd.api.app import create_app
from exportd.config import load_settings
from exportd.db import create_database
from tests.support.sources import fake_sources


def app_document(folder: Path) -> dict[str, Any]:
    settings = load_settings(
        database_url=f"sqlite:///{folder}/openapi.db", storage_url=f"file://{folder}/files"
    )
    db = create_database(settings)
    try:
        document: dict[str, Any] = create_app(settings, db=db, sources=fake_sources()).openapi()
    finally:
        db.dispose()
    return document


def write_document(folder: Path) -> Path:
    path = folder / "openapi.json"
    path.write_text(json.dumps(app_document(folder), indent=1))
    return path
