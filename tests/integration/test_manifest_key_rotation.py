"""After a key rotation the server publishes the new key and the retired one, and
``exportd verify`` with that key set checks manifests signed by either."""

from __future__ import annotations

from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.config import Settings
from exportd.db import Database
from exportd.manifest_keys import derived, for_settings, key_set
from tests.support.sources import fake_sources


def test_the_well_known_key_set_lists_the_signing_key_then_the_retired_ones(
    settings: Settings, db: Database
) -> None:
    old = derived("before-the-rotation-" + "b" * 40)
    rotated = settings.model_copy(update={"manifest_retired_keys": key_set(old.public)})
    with TestClient(create_app(rotated, db=db, sources=fake_sources())) as client:
        answer = client.get("/.well-known/exportd-manifest-keys")
    assert answer.status_code == 200
    kids = [key["kid"] for key in answer.json()["keys"]]
    assert kids == [for_settings(rotated).public.kid, old.public.kid]
