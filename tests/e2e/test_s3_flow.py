"""S3 end to end (moto's server on loopback): a real worker uploads the file, the API
redirects downloads to a presigned URL, cleanup removes the object when it expires."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from exportd.api.app import create_app
from exportd.auth.principal import Principal
from exportd.db.tables import exports
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.ops.cleanup import Cleanup
from exportd.sources import SourceRegistry
from exportd.storage import open_storage
from tests.support.api import Api
from tests.support.workers import Harness

pytestmark = pytest.mark.slow


def fetch(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url) as answer:
        return answer.read(), answer.headers["Content-Disposition"]


def test_exports_land_in_s3_and_download_through_presigned_links(
    database_url: str, tmp_path: Path, s3_endpoint: str, s3_url: str
) -> None:
    harness = Harness(database_url, tmp_path)
    with harness.db.write() as conn:
        create_demo_tables(conn)
        seed_trades(conn, "bob", 500)
    settings = harness.settings.model_copy(
        update={"storage_url": s3_url, "s3_endpoint_url": s3_endpoint}
    )
    harness.start_worker(
        source_modules='["exportd.demo.sources:demo_sources"]',
        storage_url=s3_url,
        s3_endpoint_url=s3_endpoint,
    )
    sources = SourceRegistry(demo_sources())
    service = ExportService(db=harness.db, store=harness.store, sources=sources, settings=settings)
    try:
        view, _ = service.create(
            Principal("bob", "pro"), ExportRequest(source="trades", format="csv", params={})
        )
        with harness.db.read() as conn:
            job_id = conn.execute(select(exports.c.job_id).where(exports.c.id == view.id)).scalar()
        harness.wait_for(int(job_id), lambda job: job.state.is_final, timeout=60)
        done = service.get(Principal("bob", "pro"), view.id)
        assert done.status == "completed", done.error
        assert done.result is not None
        key = done.result["key"]
        storage = open_storage(s3_url, s3_endpoint_url=s3_endpoint)
        stored = b"".join(storage.read(key))
        assert stored.count(b"\n") == 501
        assert done.result["size"] == len(stored)

        with TestClient(create_app(settings, db=harness.db, sources=sources)) as client:
            api = Api(client, settings)
            direct = client.get(
                f"/v1/exports/{view.id}/download",
                headers=api.as_user("bob", plan="pro"),
                follow_redirects=False,
            )
            assert direct.status_code == 302
            assert direct.headers["Cache-Control"] == "private, no-store"
            body, disposition = fetch(direct.headers["Location"])
            assert body == stored
            assert disposition.startswith('attachment; filename="trades-')

            link = client.post(
                f"/v1/exports/{view.id}/download-token", headers=api.as_user("bob", plan="pro")
            ).json()["url"]
            redeemed = client.get(link, follow_redirects=False)
            assert redeemed.status_code == 302
            assert fetch(redeemed.headers["Location"])[0] == stored
            assert client.get(link, follow_redirects=False).status_code == 410
            # An emailed link's page: its button's POST is answered 303, so the browser
            # GETs the presigned URL.
            page = (
                client.post(
                    f"/v1/exports/{view.id}/download-token", headers=api.as_user("bob", plan="pro")
                )
                .json()["url"]
                .replace("/v1/downloads/", "/exports/downloads/")
            )
            assert client.get(page).status_code == 200
            pressed = client.post(page, follow_redirects=False)
            assert pressed.status_code == 303
            assert fetch(pressed.headers["Location"])[0] == stored

        # Expired: cleanup removes the object, then marks the export.
        with harness.db.write() as conn:
            conn.execute(
                update(exports).where(exports.c.id == view.id).values(expires_at=done.created_at)
            )
        cleanup = Cleanup(db=harness.db, storage=storage, batch_size=10, orphan_grace_s=3600)
        report = cleanup.run(dry_run=False)
        assert report.expired == [view.id]
        assert storage.size(key) is None
        assert service.get(Principal("bob", "pro"), view.id).status == "expired"
    finally:
        harness.close()
