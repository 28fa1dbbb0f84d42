"""Clients generated from the OpenAPI document, as their users generate them, run a whole
export against one live exportd — openapi-python-client, and openapi-typescript's types
with openapi-fetch — and the TypeScript kit's ``<exportd-export>`` does the same in
headless Chromium from a page on another origin (EXPORTD_CORS_ORIGINS lists it).

Generation happens here, from the current spec, so a client can never lag behind it;
the kit's committed types must be exactly what openapi-typescript makes of it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_type_hints

import httpx2
import pytest
from sqlalchemy import update

from exportd.db import Database
from exportd.db.tables import exports
from exportd.demo.tables import create_demo_tables, seed_trades
from tests.support.clients import (
    KIT,
    KIT_TYPES,
    PythonClient,
    TypeErrors,
    marked_lines,
    openapi_document,
    python_client,
    type_check,
    typescript_types,
)
from tests.support.host_page import HostSite, host_site
from tests.support.live import Live, live_exportd
from tests.support.node import JS, require_node_package, run_script

pytestmark = pytest.mark.slow

ROWS = 300
TS_SCRIPT = JS / "openapi_fetch_lifecycle.mjs"


def _seed(db: Database) -> None:
    with db.write() as conn:
        create_demo_tables(conn)
        for user in ("bob", "carol"):
            seed_trades(conn, user, ROWS)


# -- one live exportd, one host site, generated clients ---------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[HostSite]:
    with host_site() as host:
        yield host


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, site: HostSite) -> Iterator[Live]:
    env = {
        "EXPORTD_CORS_ORIGINS": json.dumps([site.origin]),
        "EXPORTD_SOURCE_MODULES": '["exportd.demo.sources:demo_sources", '
        '"tests.support.slow_source:slow_sources"]',
        "EXPORTD_EXPORT_BATCH_ROWS": "100",
        "EXPORTD_EVENTS_POLL_INTERVAL_S": "0.1",
    }
    with live_exportd(tmp_path_factory.mktemp("clients"), seed=_seed, env=env) as server:
        site.api = server.url
        site.tokens = {user: server.token(user) for user in ("bob", "carol")}
        yield server


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    return openapi_document()


@pytest.fixture(scope="session")
def ts_types(spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_node_package("openapi-typescript")
    return typescript_types(spec, tmp_path_factory.mktemp("ts") / "schema.d.ts")


@pytest.fixture(scope="session")
def py_client(spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> PythonClient:
    return python_client(spec, tmp_path_factory.mktemp("py"))


def _check_file(content: bytes, result: dict[str, Any]) -> None:
    """The bytes are the export's file: its size and digest, and a CSV of its rows."""
    assert len(content) == result["size"]
    assert hashlib.sha256(content).hexdigest() == result["sha256"]
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) == result["row_count"] == ROWS
    assert "Symbol" in rows[0]


# -- the kit's types ----------------------------------------------------------------------


def test_the_kit_types_are_what_openapi_typescript_makes_of_the_spec(ts_types: Path) -> None:
    assert KIT_TYPES.read_text() == ts_types.read_text(), (
        "clients/typescript/schema.d.ts lags behind the OpenAPI document: run `make clients`"
    )


def test_the_kit_type_checks_against_its_types() -> None:
    require_node_package("typescript")
    errors = type_check(KIT / "tsconfig.json")
    assert errors.lines == [], "\n".join(f"{p.name}:{n}: {t}" for p, n, t in errors.lines)


# -- openapi-python-client ----------------------------------------------------------------


def _body_type(operation: Any) -> Any:
    return get_type_hints(operation.sync_detailed)["body"]


def test_the_generated_python_client_runs_an_export_to_its_file(
    live: Live, py_client: PythonClient
) -> None:
    package = py_client.package
    with package.AuthenticatedClient(
        base_url=live.url, token=live.token("bob"), raise_on_unexpected_status=True
    ) as client:
        create = py_client.operation("POST", "/v1/exports")
        body = _body_type(create).from_dict({"source": "trades", "format": "csv", "params": {}})
        created = create.sync_detailed(client=client, body=body, idempotency_key="py-lifecycle")
        assert created.status_code == 202
        export = created.parsed
        assert type(export).__module__.startswith(f"{package.__name__}.models")

        read = py_client.operation("GET", "/v1/exports/{export_id}")
        deadline = time.monotonic() + 30
        while export.status.value in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            export = read.sync(export_id=export.id, client=client)
        assert export.status.value == "completed"

        issue = py_client.operation("POST", "/v1/exports/{export_id}/download-token")
        link = issue.sync(export_id=export.id, client=client)
    redeem = py_client.operation("GET", "/v1/downloads/{token}")
    with package.Client(base_url=live.url) as anyone:  # the link is the only credential
        downloaded = redeem.sync_detailed(token=link.url.rsplit("/", 1)[1], client=anyone)
    assert downloaded.status_code == 200
    _check_file(downloaded.content, export.result.to_dict())


def test_the_generated_python_client_reads_refusals_as_typed_problems(
    live: Live, py_client: PythonClient
) -> None:
    package = py_client.package
    read = py_client.operation("GET", "/v1/exports/{export_id}")
    create = py_client.operation("POST", "/v1/exports")
    body = _body_type(create).from_dict({"source": "no-such-source", "format": "csv"})
    with package.AuthenticatedClient(base_url=live.url, token=live.token("bob")) as client:
        missing = read.sync_detailed(export_id="no-such-export", client=client).parsed
        unknown = create.sync_detailed(client=client, body=body).parsed
    expected = ((missing, 404, "export_not_found"), (unknown, 422, "source_unknown"))
    for problem, status, code in expected:
        # A model of the generated package (not None, not a dict), with typed fields.
        assert type(problem).__module__.startswith(f"{package.__name__}.models")
        assert (problem.status, problem.code) == (status, code)


# -- openapi-typescript + openapi-fetch ---------------------------------------------------


@pytest.fixture(scope="module")
def ts_type_errors(ts_types: Path) -> TypeErrors:
    """tsc over the lifecycle script, against the types generated from the spec now."""
    require_node_package("typescript")
    config = ts_types.parent / "tsconfig.json"
    options = {
        "allowJs": True,
        "checkJs": True,
        "noEmit": True,
        "strict": True,
        "skipLibCheck": True,
        "target": "es2022",
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "types": ["node"],
        "typeRoots": [str(JS / "node_modules" / "@types")],
        "paths": {"exportd-openapi": [str(ts_types)]},
    }
    config.write_text(json.dumps({"compilerOptions": options, "files": [str(TS_SCRIPT)]}))
    return type_check(config)


@pytest.fixture(scope="module")
def ts_run(live: Live, ts_types: Path) -> dict[str, Any]:
    require_node_package("openapi-fetch")
    code, seen = run_script(TS_SCRIPT.name, live.url, live.token("bob"), timeout_s=60)
    assert code == 0, seen
    return seen


def test_openapi_fetch_runs_an_export_to_its_file(ts_run: dict[str, Any]) -> None:
    assert (ts_run["created"], ts_run["status"]) == (202, "completed")
    assert ts_run["polls"] == 1  # one long poll, answered with the outcome
    download = ts_run["download"]
    assert download["status"] == 200
    _check_file(download["text"].encode(), ts_run["result"])
    assert [(p["http"], p["contentType"], p["status"], p["code"]) for p in ts_run["problems"]] == [
        (404, "application/problem+json", 404, "export_not_found"),
        (422, "application/problem+json", 422, "source_unknown"),
    ]


def test_the_openapi_fetch_script_type_checks(ts_type_errors: TypeErrors) -> None:
    outside = ts_type_errors.outside(TS_SCRIPT, marked_lines(TS_SCRIPT, "typed-problem"))
    assert outside == []


def test_openapi_fetch_types_refusals_as_problems(ts_type_errors: TypeErrors) -> None:
    inside = ts_type_errors.within(TS_SCRIPT, marked_lines(TS_SCRIPT, "typed-problem"))
    assert inside == []


def test_the_kit_client_resumes_a_cut_stream_and_reads_refusals() -> None:
    """Against a scripted server: what a live exportd shows only by accident."""
    require_node_package("typescript")  # any: the script needs node and the kit only
    code, seen = run_script("kit_client.mjs", timeout_s=30)
    assert code == 0, seen
    assert seen["states"] == [["running", 40], ["completed", 100]]
    assert seen["final"] == "completed"
    # Resumed after the last *complete* event (7), not the cut one (8); a 503 is retried.
    assert seen["lastEventIds"] == [None, "7", "7"]
    assert seen["authorizations"] == ["Bearer t1", "Bearer t2", "Bearer t3", "Bearer t4"]
    assert seen["refusal"] == [404, "export_not_found"]  # a refusal is not retried


# -- <exportd-export> in headless Chromium --------------------------------------------------


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    context = browser.new_context(accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    yield tab
    violations = tab.evaluate("window.violations")
    context.close()
    assert violations == [], "the element broke the host page's Content-Security-Policy"


def _element(page: Any) -> Any:
    return page.locator("exportd-export")


def _download(page: Any) -> bytes:
    with page.expect_download() as caught:
        _element(page).get_by_role("button", name="Download", exact=True).click()
    return Path(caught.value.path()).read_bytes()


def _export_of(page: Any) -> dict[str, Any]:
    export: dict[str, Any] = page.evaluate("document.querySelector('exportd-export').export")
    return export


def test_the_element_exports_live_and_downloads_from_another_site(
    page: Any, live: Live, site: HostSite
) -> None:
    from playwright.sync_api import expect

    events: list[str] = []
    page.on("request", lambda r: events.append(r.url) if r.url.endswith("/events") else None)
    page.goto(site.page("bob", source="slow_trades"))
    element = _element(page)
    element.get_by_role("button", name="Download my trades").click()
    expect(element.get_by_role("status")).to_have_text("Preparing your export…")
    expect(element.locator("progress")).to_be_visible()
    expect(element.get_by_role("status")).to_contain_text("Your export is ready.")
    expect(element.locator("progress")).to_be_hidden()

    export = _export_of(page)
    assert element.get_attribute("export-id") == export["id"]
    seen = page.evaluate("window.seen")
    assert seen[-1] == ["completed", 100]
    assert any(status == "running" and 0 < (percent or 0) < 100 for status, percent in seen)
    assert events == [f"{live.url}/v1/exports/{export['id']}/events"]  # live, not polled
    _check_file(_download(page), export["result"])
    assert page.url == site.page("bob", source="slow_trades")  # the page stayed
    assert page.evaluate("window.problems") == []


def _completed_export(live: Live, user: str) -> str:
    api = httpx2.Client(
        base_url=live.url, headers={"Authorization": f"Bearer {live.token(user)}"}, timeout=30
    )
    with api:
        export = api.post("/v1/exports", json={"source": "trades", "format": "csv"}).json()
        deadline = time.monotonic() + 30
        while export["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.1)
            export = api.get(f"/v1/exports/{export['id']}").json()
    assert export["status"] == "completed"
    return str(export["id"])


def _expire(live: Live, export_id: str) -> None:
    db = live.database()
    try:
        with db.write() as conn:
            past = datetime.now(UTC) - timedelta(minutes=1)
            conn.execute(update(exports).where(exports.c.id == export_id).values(expires_at=past))
    finally:
        db.dispose()


def test_the_element_offers_to_export_an_expired_one_again(
    page: Any, live: Live, site: HostSite
) -> None:
    from playwright.sync_api import expect

    first = _completed_export(live, "carol")
    page.goto(site.page("carol", export_id=first))  # a page that kept the export's id
    element = _element(page)
    expect(element.get_by_role("button", name="Download", exact=True)).to_be_visible()
    _expire(live, first)
    element.get_by_role("button", name="Download", exact=True).click()  # the file went meanwhile
    expect(element.get_by_role("status")).to_have_text("This export has expired.")

    element.get_by_role("button", name="Export again").click()
    expect(element.get_by_role("button", name="Download", exact=True)).to_be_visible()
    again = _export_of(page)
    assert again["id"] != first
    assert element.get_attribute("export-id") == again["id"]
    assert (again["source"], again["format"], again["status"]) == ("trades", "csv", "completed")
    _check_file(_download(page), again["result"])


def test_a_page_on_an_unlisted_origin_gets_no_answer(page: Any, site: HostSite) -> None:
    from playwright.sync_api import expect

    page.goto(site.page("bob", host="127.0.0.1"))  # the same page, an origin not listed
    element = _element(page)
    element.get_by_role("button", name="Download my trades").click()
    expect(element.get_by_role("alert")).to_contain_text("(unreachable)")
    assert page.evaluate("window.problems") == ["unreachable"]
    expect(element.get_by_role("button", name="Download my trades")).to_be_visible()
