"""The page's destinations: a list with a Test button, a form to add one, and the
"Deliver to" choice of the new-export form.  The rules are the destination service's;
refusals show in the panel as a notice with their code."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from exportd.api.routers import api_router
from exportd.destinations.models import Kind, TestResult
from exportd.destinations.service import DestinationService
from exportd.errors import ExportdError, RequestInvalid
from exportd.web.messages import notice_text
from exportd.web.routes import Page, page
from exportd.web.templating import render

router = api_router(prefix="/exports/destinations", include_in_schema=False)

S3_FIELDS = ("bucket", "prefix", "endpoint_url", "region", "key_template")
SFTP_FIELDS = ("host", "port", "username", "host_key", "directory", "key_template")
SECRET_FIELDS = {
    Kind.S3: ("access_key_id", "secret_access_key"),
    Kind.SFTP: ("password", "private_key", "passphrase"),
}


def destination_context(p: Page) -> dict[str, Any]:
    """What the main page shows of destinations: the panel, and the export form's choice."""
    return {"destinations_panel": panel(p), "destination_choice": _choice(p)}


def panel(p: Page, *, tested: str | None = None, result: TestResult | None = None) -> str:
    return render(
        "_destinations.html",
        destinations=[
            (d, where(d.kind, d.config)) for d in _service(p).list_destinations(p.principal)
        ],
        tested=tested,
        result=result,
        notice="",
    )


def _choice(p: Page, *, oob: bool = False) -> str:
    listed = _service(p).list_destinations(p.principal)
    return render("_destination_choice.html", destinations=listed, oob=oob)


@router.post("", response_class=HTMLResponse)
async def add(request: Request) -> HTMLResponse:
    form = await request.form()
    return await run_in_threadpool(_add, request, form)


def _add(request: Request, form: FormData) -> HTMLResponse:
    def act(p: Page) -> str:
        fields = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
        kind, config, secret = from_form(fields)
        name = fields.get("name", "")
        _service(p).create(p.principal, kind=kind, name=name, config=config, secret=secret)
        return panel(p) + _choice(p, oob=True)

    return _acted(request, act)


@router.post("/{destination_id}/test", response_class=HTMLResponse)
def probe(request: Request, destination_id: str) -> HTMLResponse:
    def act(p: Page) -> str:
        result = _service(p).test(p.principal, destination_id)
        return panel(p, tested=destination_id, result=result)

    return _acted(request, act)


def from_form(fields: dict[str, str]) -> tuple[Kind, dict[str, Any], dict[str, Any]]:
    """The form's fields as a kind's config and secret (empty fields left out)."""
    try:
        kind = Kind(fields.get("kind", ""))
    except ValueError:
        raise RequestInvalid("choose S3 or SFTP", code="destination_config_invalid") from None
    names = S3_FIELDS if kind is Kind.S3 else SFTP_FIELDS
    config: dict[str, Any] = {n: fields[n] for n in names if fields.get(n)}
    if "port" in config:
        config["port"] = int(config["port"]) if config["port"].isdigit() else config["port"]
    secret = {n: fields[f"secret_{n}"] for n in SECRET_FIELDS[kind] if fields.get(f"secret_{n}")}
    return kind, config, secret


def where(kind: Kind, config: dict[str, Any]) -> str:
    if kind is Kind.S3:
        prefix = f"/{config['prefix']}" if config.get("prefix") else ""
        return f"s3://{config['bucket']}{prefix}"
    return f"sftp://{config['username']}@{config['host']}:{config['port']}/{config['directory']}"


def _acted(request: Request, action: Any) -> HTMLResponse:
    """Signed in, the CSRF token checked; a refusal shown in the panel."""
    p = page(request)
    try:
        p.check_csrf()
        return HTMLResponse(action(p))
    except ExportdError as exc:
        fields = [f"{e.get('field')}: {e.get('message')}" for e in getattr(exc, "errors", [])]
        notice = render(
            "_notice.html",
            kind="error",
            message=notice_text(exc.code, exc.message),
            fields=fields,
            code=exc.code,
        )
        listed = _service(p).list_destinations(p.principal)
        return HTMLResponse(
            render(
                "_destinations.html",
                destinations=[(d, where(d.kind, d.config)) for d in listed],
                tested=None,
                result=None,
                notice=notice,
            )
        )


def _service(p: Page) -> DestinationService:
    service: DestinationService = p.request.app.state.destinations
    return service
