"""Requests that could only fail later are refused when they are made (issue 23): a date
range that runs backwards, a resume export with no document, a document without a
section its template requires, an email with no SMTP server. Each is a 422 with its own
code, through the service, the API (problem+json) and ``exportd export`` (one line), and
nothing is queued or written. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import typer
from pydantic import SecretStr
from sqlalchemy import func, select
from typer.testing import CliRunner

from exportd import cli_client
from exportd.auth.principal import Principal
from exportd.client import ExportdClient
from exportd.config import Settings
from exportd.db import Database
from exportd.db.tables import exports, jobs
from exportd.documents.service import DocumentService
from exportd.errors import RequestInvalid
from exportd.exports.models import ExportRequest
from exportd.exports.service import ExportService
from exportd.queue import JobStore
from tests.support.api import Api
from tests.support.resumes import api_for
from tests.support.sources import fake_sources

ALICE = Principal("alice", "pro", "alice@example.com")
NO_WORK = {"profile": {"name": "Ada Lovelace"}}  # the modern template needs "work"
SMTP = SecretStr("smtp://127.0.0.1:2525")  # configured; only a worker would connect


@dataclass(frozen=True)
class Case:
    body: dict[str, Any]  # the request
    code: str
    field: str
    fix: dict[str, Any]  # what makes it acceptable ("document": make one; "smtp": set it)
    given: dict[str, Any] | None = None  # a document alice has


def trades(**extra: Any) -> dict[str, Any]:
    return {"source": "trades", "format": "csv", "params": {}, **extra}


def resume(**extra: Any) -> dict[str, Any]:
    return {"source": "resume", "format": "pdf", "params": {}, **extra}


CASES = [
    pytest.param(
        Case(
            trades(params={"date_from": "2026-03-01", "date_to": "2026-02-01"}),
            "date_range_invalid",
            "params.date_to",
            {"params": {"date_from": "2026-02-01", "date_to": "2026-02-01"}},  # one whole day
        ),
        id="dates-backwards",
    ),
    pytest.param(
        Case(resume(), "document_missing", "params.document_id", {"document": NO_WORK}),
        id="no-default-document",
    ),
    pytest.param(
        Case(
            resume(params={"document_id": "0" * 32}),
            "document_missing",
            "params.document_id",
            {"params": {}},
            given=NO_WORK,
        ),
        id="no-such-document",
    ),
    pytest.param(
        Case(
            resume(template="modern"),
            "document_sections_missing",
            "template",
            {"template": "classic"},  # classic needs only the profile
            given=NO_WORK,
        ),
        id="sections-missing",
    ),
    pytest.param(
        Case(
            trades(notify={"email": "alice@example.com"}),
            "notify_email_unavailable",
            "notify.email",
            {"smtp": True},
        ),
        id="email-without-smtp",
    ),
]


@pytest.fixture
def documents(db: Database, settings: Settings) -> DocumentService:
    return DocumentService(db=db, store=JobStore.from_settings(settings), max_sections=20)


def service_for(db: Database, settings: Settings, *, smtp: bool = False) -> ExportService:
    configured = settings.model_copy(update={"smtp_url": SMTP if smtp else None})
    store = JobStore.from_settings(configured)
    return ExportService(db=db, store=store, sources=fake_sources(), settings=configured)


def as_request(body: dict[str, Any]) -> ExportRequest:
    return ExportRequest(**{"params": {}, **body})


def nothing_written(db: Database) -> bool:
    with db.read() as conn:
        counts = [
            conn.execute(select(func.count()).select_from(t)).scalar() for t in (jobs, exports)
        ]
    return counts == [0, 0]


@pytest.mark.parametrize("case", CASES)
def test_the_service_refuses_it_up_front_and_accepts_it_fixed(
    db: Database, settings: Settings, documents: DocumentService, case: Case
) -> None:
    if case.given is not None:
        documents.create(ALICE, title="CV", content=case.given)
    service = service_for(db, settings)
    with pytest.raises(RequestInvalid) as caught:
        service.create(ALICE, as_request(case.body), idempotency_key="k")
    assert (caught.value.code, caught.value.errors[0]["field"]) == (case.code, case.field)
    assert "\n" not in caught.value.message
    # A batch is all or nothing, and names the item.
    with pytest.raises(RequestInvalid) as in_batch:
        service.create_batch(ALICE, [as_request(trades()), as_request(case.body)])
    named = (in_batch.value.code, in_batch.value.errors[0]["field"])
    assert named == (case.code, f"items.1.{case.field}")
    assert nothing_written(db)

    fixed = {k: v for k, v in {**case.body, **case.fix}.items() if k not in ("document", "smtp")}
    if "document" in case.fix:
        documents.create(ALICE, title="CV", content=case.fix["document"])
    service = service_for(db, settings, smtp=case.fix.get("smtp", False))
    assert service.create(ALICE, as_request(fixed))[1]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The HTTP and CLI layers translate what the service decides: SQLite is enough."""
    yield from api_for(tmp_path)


def documents_of(api: Api) -> DocumentService:
    state = api.client.app.state  # type: ignore[attr-defined]
    return DocumentService(db=state.db, store=JobStore.from_settings(api.settings), max_sections=20)


@pytest.mark.parametrize("case", CASES)
def test_the_api_answers_a_problem_422(api: Api, case: Case) -> None:
    headers = api.as_user("alice", plan="pro", email="alice@example.com")
    if case.given is not None:
        document = {"title": "CV", "content": case.given}
        made = api.client.post("/v1/documents", json=document, headers=headers)
        assert made.status_code == 201, made.text
    response = api.create("alice", case.body, plan="pro", email="alice@example.com")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["errors"][0]["field"]) == (case.code, case.field)
    assert problem["type"] == f"https://exportd.dev/problems/{case.code}"
    assert nothing_written(api.client.app.state.db)  # type: ignore[attr-defined]


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """``exportd export`` whose HTTP calls reach the in-process app."""

    def forward(request: httpx2.Request) -> httpx2.Response:
        answer = api.client.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            content=request.content,
        )
        return httpx2.Response(
            answer.status_code, headers=list(answer.headers.multi_items()), content=answer.content
        )

    class InProcess(ExportdClient):
        def __init__(self, base_url: str, token: str, **kw: Any) -> None:
            super().__init__(base_url, token, **kw)
            self.http.close()
            self.http = httpx2.Client(
                base_url=base_url,
                headers={"Authorization": f"Bearer {token}"},
                transport=httpx2.MockTransport(forward),
            )

    monkeypatch.setattr(cli_client, "ExportdClient", InProcess)
    app = typer.Typer()
    cli_client.register(app)
    return app


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        (
            ["trades", "-p", "date_from=2026-03-01", "-p", "date_to=2026-02-01"],
            "date_range_invalid",
            "--param date_to",
        ),
        (["resume", "-f", "pdf"], "document_missing", "--param document_id"),
        (
            ["resume", "-f", "pdf", "--template", "modern"],
            "document_sections_missing",
            "--template",
        ),
    ],
    ids=["dates-backwards", "no-document", "sections-missing"],
)
def test_exportd_export_says_it_in_one_line(
    cli: typer.Typer, api: Api, args: list[str], code: str, field: str
) -> None:
    if code == "document_sections_missing":
        documents_of(api).create(ALICE, title="CV", content=NO_WORK)
    token = api.token("alice", plan="pro")
    done = CliRunner().invoke(
        cli, ["export", *args, "--url", "http://testserver", "--token", token]
    )
    assert done.exit_code == 1, done.output
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("exportd: ")
    assert f"({code}) — {field}: " in line
    assert "Traceback" not in done.output
    assert nothing_written(api.client.app.state.db)  # type: ignore[attr-defined]
