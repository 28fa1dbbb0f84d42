"""Split exports end to end: the API (the real app) queues them, a real ``exportd worker``
writes the parts, and they are downloaded as a user does — one zip through a one-time
link, or each part through its own one-time link — then checked by ``exportd verify``
with the keys the server publishes, read back by DuckDB and polars, counted in the
owner's quota, and removed to the last part when the export expires.  On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select, update
from typer.testing import CliRunner

from exportd.api.app import create_app
from exportd.db.tables import exports
from exportd.demo.sources import demo_sources
from exportd.demo.tables import create_demo_tables, seed_trades
from exportd.ops.cleanup import Cleanup
from exportd.sources import SourceRegistry
from exportd.storage import LocalStorage
from tests.support.api import Api
from tests.support.served import served
from tests.support.shared_worker import tenant
from tests.support.workers import Harness

pytestmark = pytest.mark.slow

ROWS = 3_000
SECRET = "split-e2e-secret-" + "e" * 40
LIMITS = {"split_min_rows": "100", "split_min_bytes": "10000", "split_max_parts": "5"}


class Shared:
    """The module's worker and app, shared by its tests."""

    def __init__(self, harness: Harness, client: TestClient, api: Api, files: Path) -> None:
        self.harness, self.client, self.api, self.files = harness, client, api, files

    def settle(self, export_id: str) -> None:
        """Wait for the worker to settle the export."""
        with self.harness.db.read() as conn:
            job_id = conn.execute(
                select(exports.c.job_id).where(exports.c.id == export_id)
            ).scalar()
        self.harness.wait_for(int(job_id), lambda job: job.state.is_final, timeout=90)


class World(Shared):
    """The shared worker and app, as the test's own owner (``bob``)."""

    def __init__(self, shared: Shared, owner: str) -> None:
        super().__init__(shared.harness, shared.client, shared.api, shared.files)
        self.owner = owner

    @property
    def bob(self) -> dict[str, str]:
        return self.api.as_user(self.owner, plan="pro")

    def export(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create, wait for the worker to settle it, and read it back."""
        created = self.client.post("/v1/exports", json=body, headers=self.bob)
        assert created.status_code == 202, created.text
        export_id = created.json()["id"]
        self.settle(export_id)
        answer = self.client.get(f"/v1/exports/{export_id}", headers=self.bob)
        return dict(answer.json())

    def stored(self, export_id: str) -> list[Path]:
        return sorted(p for p in self.files.rglob("*") if p.is_file() and export_id in str(p))


@pytest.fixture(scope="module")
def shared(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    folder = tmp_path_factory.mktemp("split-exports")
    harness = Harness(module_database_url, folder)
    with harness.db.write() as conn:
        create_demo_tables(conn)
    files = folder / "exports"
    harness.start_worker(
        source_modules='["exportd.demo.sources:demo_sources"]',
        storage_url=f"file://{files}",
        export_batch_rows="400",
        secret_key=SECRET,
        **LIMITS,
    )
    settings = harness.settings.model_copy(
        update={
            "storage_url": f"file://{files}",
            "secret_key": SecretStr(SECRET),
            "split_min_rows": 100,
            "split_min_bytes": 10_000,
            "split_max_parts": 5,
        }
    )
    app = create_app(settings, db=harness.db, sources=SourceRegistry(demo_sources()))
    try:
        with TestClient(app) as client:
            yield Shared(harness, client, Api(client, settings), files)
    finally:
        harness.close()


@pytest.fixture
def world(shared: Shared) -> Iterator[World]:
    """The module's worker and app as an owner of this test alone, with the trades.  The
    test's exports have settled when it ends: a later test's cleanup (its orphan sweep has
    no grace) must not find a file still being written."""
    owner = tenant("bob")
    with shared.harness.db.write() as conn:
        seed_trades(conn, owner, ROWS)
    yield World(shared, owner)
    with shared.harness.db.read() as conn:
        export_ids = list(
            conn.execute(select(exports.c.id).where(exports.c.owner_id == owner)).scalars()
        )
    for export_id in export_ids:
        shared.settle(export_id)


def verify(path: Path, keys: Path) -> str:
    import typer

    from exportd import cli_verify
    from exportd.config import load_settings

    app = typer.Typer()
    cli_verify.register(app, load_settings)
    app.command("noop")(lambda: None)
    done = CliRunner().invoke(app, ["verify", str(path), "--key", str(keys)])
    assert done.exit_code == 0, done.output
    return done.output


def published_keys(world: World, folder: Path) -> Path:
    answer = world.client.get("/.well-known/exportd-manifest-keys")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    (key,) = answer.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    path = folder / "keys.json"
    path.write_text(answer.text)
    return path


def expire_and_clean(world: World, export: dict[str, Any]) -> None:
    """The export expires; cleanup removes every file of it and leaves no orphan."""
    with world.harness.db.write() as conn:
        conn.execute(
            update(exports)
            .where(exports.c.id == export["id"])
            .values(expires_at=datetime.fromisoformat(export["created_at"]))
        )
    cleanup = Cleanup(
        db=world.harness.db, storage=LocalStorage(world.files), batch_size=10, orphan_grace_s=0
    )
    report = cleanup.run(dry_run=False)
    assert report.expired == [export["id"]]  # the module's other exports are not due
    # Nothing of the owner's was left for the orphan sweep to find (it sweeps the
    # module's whole store: the other tests' files are theirs to account for).
    assert [key for key in report.orphans if key.startswith(f"{world.owner}/")] == []
    assert world.stored(export["id"]) == []
    gone = world.client.get(f"/v1/exports/{export['id']}/files", headers=world.bob)
    assert (gone.status_code, gone.json()["code"]) == (410, "export_expired")


def test_one_zip_through_a_one_time_link(world: World, tmp_path: Path) -> None:
    export = world.export(
        {"source": "trades", "format": "csv", "options": {"split": {"rows": 1_000}}}
    )
    assert export["status"] == "completed", export["error"]
    result = export["result"]
    assert export["options"] == {"split": {"rows": 1_000, "deliver": "zip"}}
    assert result["split"] == {"rows": 1_000, "deliver": "zip", "parts": 3}
    assert result["filename"].endswith(".parts.zip")
    assert "files" not in result  # storage keys of parts are not in the export's view
    keys = published_keys(world, tmp_path)
    assert result["signing_key"] == json.loads(keys.read_text())["keys"][0]["kid"]
    listed = world.client.get(export["links"]["files"], headers=world.bob).json()["files"]
    assert [(f["name"], f["role"], f["size"]) for f in listed] == [
        (result["filename"], "file", result["size"])
    ]

    link = world.client.post(f"/v1/exports/{export['id']}/download-token", headers=world.bob)
    assert link.json()["files"] is None  # one file: one link
    got = world.client.get(link.json()["url"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert world.client.get(link.json()["url"]).status_code == 410  # one time
    saved = tmp_path / result["filename"]
    saved.write_bytes(got.content)
    tested = subprocess.run(["unzip", "-t", str(saved)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "verified: 3 parts, 3,000 rows" in verify(saved, keys)

    with zipfile.ZipFile(saved) as archive:
        archive.extractall(tmp_path / "out")
        parts = [tmp_path / "out" / n for n in archive.namelist() if n.endswith(".csv")]
    frames = [pl.read_csv(p) for p in parts]
    assert [f.height for f in frames] == [1_000, 1_000, 1_000]
    assert all(f.columns == frames[0].columns for f in frames)  # the header in every part
    ids = pl.concat(frames)["Trade"]
    assert ids.len() == ids.n_unique() == ROWS == result["row_count"]
    expire_and_clean(world, export)


def test_parts_each_through_their_own_one_time_link(world: World, tmp_path: Path) -> None:
    split = {"rows": 1_000, "deliver": "parts"}
    export = world.export({"source": "trades", "format": "parquet", "options": {"split": split}})
    assert export["status"] == "completed", export["error"]
    result = export["result"]
    assert result["split"] == {**split, "parts": 3}
    assert result["filename"].endswith(".manifest.json")
    assert result["content_type"] == "application/json"
    files = world.client.get(export["links"]["files"], headers=world.bob).json()["files"]
    assert [f["role"] for f in files] == ["part", "part", "part", "manifest", "signature"]
    assert [f["rows"] for f in files[:3]] == [1_000, 1_000, 1_000]
    assert result["stored_bytes"] == sum(f["size"] for f in files) > result["size"]
    usage = world.client.get("/v1/me/usage", headers=world.bob).json()
    assert usage["usage"]["stored_bytes"] == result["stored_bytes"]  # every part counts

    links = world.client.post(f"/v1/exports/{export['id']}/download-token", headers=world.bob)
    assert links.status_code == 201
    by_name = {f["name"]: f["url"] for f in links.json()["files"]}
    assert list(by_name) == [f["name"] for f in files]
    assert links.json()["url"] != by_name[result["filename"]]  # its own link, its own spend
    folder = tmp_path / "downloaded"
    folder.mkdir()
    for name, url in by_name.items():
        got = world.client.get(url)
        assert got.status_code == 200, got.text
        assert f'filename="{name}"' in got.headers["content-disposition"]
        (folder / name).write_bytes(got.content)
    first = files[0]["name"]
    spent = world.client.get(by_name[first])
    assert (spent.status_code, spent.json()["code"]) == (410, "download_token_used")
    fresh = world.client.post(
        f"/v1/exports/{export['id']}/files/{first}/download-token", headers=world.bob
    )
    assert world.client.get(fresh.json()["url"]).content == (folder / first).read_bytes()
    owner = world.client.get(files[1]["download"], headers=world.bob)
    assert owner.content == (folder / files[1]["name"]).read_bytes()
    unknown = world.client.get(f"/v1/exports/{export['id']}/files/nope.csv", headers=world.bob)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "file_not_found")
    main = world.client.get(f"/v1/exports/{export['id']}/download", headers=world.bob)
    assert main.content == (folder / result["filename"]).read_bytes()

    keys = published_keys(world, tmp_path)
    assert "verified: 3 parts, 3,000 rows" in verify(folder / result["filename"], keys)
    parts = ", ".join(f"'{folder / f['name']}'" for f in files[:3])
    counted = duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM read_parquet([{parts}])")
    assert counted.fetchall() == [(ROWS, ROWS)]
    assert len(world.stored(export["id"])) == 5
    expire_and_clean(world, export)


def test_too_many_parts_by_bytes_fail_the_export_and_store_nothing(world: World) -> None:
    # A part's bytes are known only once written: the worker finds the sixth part.
    export = world.export(
        {
            "source": "trades",
            "format": "csv",
            "options": {"split": {"bytes": 10_000, "deliver": "parts"}},
        }
    )
    assert export["status"] == "failed"
    assert export["error"]["code"] == "split_too_many_parts"
    assert "more than 5 parts" in export["error"]["message"]
    assert "ask for larger parts" in export["error"]["message"]
    assert world.stored(export["id"]) == []


def test_too_many_parts_by_rows_are_refused_when_asked(world: World) -> None:
    # The trades count cheaply: 3,000 rows in parts of 500 are six parts, one too many.
    body = {"source": "trades", "format": "csv", "options": {"split": {"rows": 500}}}
    answer = world.client.post("/v1/exports", json=body, headers=world.bob)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "split_too_many_parts"
    assert problem["errors"] == [{"field": "options.split.rows", "message": "at least 600"}]
    assert "ask for parts of at least 600 rows" in problem["detail"]
    listed = world.client.get("/v1/exports", headers=world.bob).json()["items"]
    assert listed == []  # nothing queued
    fits = world.client.post(
        "/v1/exports", json={**body, "options": {"split": {"rows": 600}}}, headers=world.bob
    )
    assert fits.status_code == 202, fits.text


BIG = 1 << 21
REFUSED = [
    ("csv", {"split": {"rows": 99}}, "split_too_small", "options.split.rows"),
    ("csv", {"split": {"bytes": 1000}}, "split_too_small", "options.split.bytes"),
    ("xlsx", {"split": {"bytes": BIG}}, "option_not_applicable", "options.split.bytes"),
    ("pdf", {"split": {"rows": 500}}, "option_not_applicable", "options.split"),
    (
        "csv",
        {"keep_partial": True, "split": {"rows": 500}},
        "option_not_applicable",
        "options.keep_partial",
    ),
    ("csv", {"split": {"rows": 500, "bytes": BIG}}, "request_invalid", "options.split"),
    ("csv", {"split": {"deliver": "parts"}}, "request_invalid", "options.split"),
]


@pytest.mark.parametrize(("fmt", "options", "code", "field"), REFUSED)
def test_what_cannot_be_split_is_refused_when_asked(
    world: World, fmt: str, options: dict[str, Any], code: str, field: str
) -> None:
    source = "trader_profile" if fmt == "pdf" else "trades"  # a document: no rows to split
    body = {"source": source, "format": fmt, "options": options}
    answer = world.client.post("/v1/exports", json=body, headers=world.bob)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == code
    assert any(e["field"].removeprefix("body.").startswith(field) for e in problem["errors"])


@pytest.mark.parametrize("module_database_url", ["sqlite"], indirect=True)
def test_the_cli_saves_every_part_and_verify_fetches_the_keys(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from exportd import cli_client, cli_verify
    from exportd.config import load_settings

    cli = typer.Typer()
    cli_client.register(cli)
    cli_verify.register(cli, load_settings)
    monkeypatch.chdir(tmp_path)
    with served(world.client.app, lifespan="off") as url:  # type: ignore[arg-type]
        token = world.api.token(world.owner, plan="pro")
        done = CliRunner().invoke(
            cli,
            ["export", "trades", "-f", "jsonl", "--split-rows", "1200", "--split-parts",
             "--out", "parts", "--url", url, "--token", token],
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        assert "saved 5 files in parts" in done.stdout
        names = sorted(p.name.split("-", 3)[-1] for p in (tmp_path / "parts").iterdir())
        assert names[2:] == ["part0001.jsonl", "part0002.jsonl", "part0003.jsonl"]
        assert [n.split(".", 1)[1] for n in names[:2]] == ["manifest.json", "manifest.json.sig"]
        (manifest,) = (tmp_path / "parts").glob("*.manifest.json")
        keys = f"{url}/.well-known/exportd-manifest-keys"
        checked = CliRunner().invoke(cli, ["verify", str(manifest), "--key", keys])
        assert checked.exit_code == 0, checked.output
        assert "verified: 3 parts, 3,000 rows" in checked.stdout
        refused = CliRunner().invoke(
            cli, ["export", "trades", "--split-rows", "10", "--url", url, "--token", token]
        )
        assert refused.exit_code == 1
        assert "split_too_small" in refused.stderr
        assert "--split-rows: at least 100" in refused.stderr
