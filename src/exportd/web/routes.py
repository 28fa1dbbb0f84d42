"""The /exports page: sign in, create, watch, download, cancel, retry; documents; usage.

Server-rendered with htmx: every action answers with the HTML fragment it changed.
The routes only translate between forms and the services the API uses; the page has
no rules of its own.  Errors come back as a notice in the page, never as a JSON body.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from exportd.api.routers import api_router
from exportd.api.schemas import ExportCreate
from exportd.auth.principal import Principal
from exportd.config import Settings, jwt_key
from exportd.demo.users import DEMO_USERS, demo_user
from exportd.documents.preview import PREVIEW_HEADERS
from exportd.documents.templates import builtin_catalogue
from exportd.errors import (
    Conflict,
    ExportdError,
    Forbidden,
    NotFound,
    RequestInvalid,
    Unauthenticated,
)
from exportd.exports.downloads import Downloads
from exportd.exports.models import ExportRequest, ExportStatus, ExportView
from exportd.exports.service import ExportService
from exportd.web import forms, session
from exportd.web.fonts import fonts_url
from exportd.web.messages import notice_text
from exportd.web.templating import render, row_html, templates
from exportd.web.views import TOO_LATE_TO_CANCEL, Names, Row, row_of

router = api_router(prefix="/exports", include_in_schema=False)

PAGE_SIZE = 25
_NOTICE = {"HX-Retarget": "#notice", "HX-Reswap": "innerHTML"}


class SignInRequired(Exception):
    """Raised by a page route without a valid session; the app sends the user to sign in."""


def sign_in_redirect(request: Request, _exc: Exception) -> Response:
    if "text/event-stream" in request.headers.get("accept", ""):
        return Response(status_code=204)  # tells an EventSource to stop reconnecting
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": "/exports"})
    return RedirectResponse("/exports", status_code=303)


class Page:
    """What every page route needs: the user, the services, and the CSRF token."""

    def __init__(self, request: Request, principal: Principal) -> None:
        state = request.app.state
        self.request = request
        self.principal = principal
        self.settings: Settings = state.settings
        self.exports: ExportService = state.exports
        self.csrf = session.csrf_token(
            self.settings.secret_key.get_secret_value(), session.session_id(request) or ""
        )

    def check_csrf(self, form_value: str | None = None) -> None:
        session.check_csrf(self.request, self.settings.secret_key.get_secret_value(), form_value)

    def watermarked(self) -> bool:
        return self.exports.plan(self.principal).watermark

    def names(self) -> Names:
        """The words for what rows name: read afresh, as documents come and go."""
        state = self.request.app.state
        return Names(
            sources={s.name: s.describe() for s in state.sources.all()},
            documents={d.id: d.title for d in state.documents.list_documents(self.principal)},
            templates={t.name: t.manifest.title for t in builtin_catalogue().all()},
        )

    def rows(self, views: list[ExportView], *, watermark: bool | None = None) -> list[Row]:
        if not views:
            return []
        mark = self.watermarked() if watermark is None else watermark
        names = self.names()
        return [
            row_of(
                view,
                viewer=self.principal.user_id,
                watermark_plan=mark,
                admin=self.principal.is_admin,
                names=names,
            )
            for view in views
        ]

    def row(self, view: ExportView, *, flash: str | None = None) -> str:
        [row] = self.rows([view])
        return row_html(dataclasses.replace(row, flash=flash))

    def usage_html(self, usage: dict[str, Any] | None = None, *, oob: bool = False) -> str:
        usage = usage if usage is not None else self.exports.usage(self.principal)
        return render("_usage.html", usage=usage, oob=oob)


def page(request: Request) -> Page:
    try:
        return Page(request, session.principal_of(request))
    except Unauthenticated as exc:
        raise SignInRequired from exc


def _notice(
    message: str, *, kind: str = "error", fields: list[str] | None = None, code: str = ""
) -> str:
    return render("_notice.html", kind=kind, message=message, fields=fields or [], code=code)


def _refusal(exc: ExportdError) -> str:
    """An error as a notice: words for its code, the fields to fix, the code in small print."""
    fields = [f"{e.get('field')}: {e.get('message')}" for e in getattr(exc, "errors", [])]
    wait = getattr(exc, "retry_after_s", None)
    message = notice_text(exc.code, exc.message) + (f" Try again in {wait} s." if wait else "")
    return _notice(message, fields=fields, code=exc.code)


def _failure(exc: ExportdError) -> HTMLResponse:
    return HTMLResponse(_refusal(exc), headers=_NOTICE)


def unavailable(request: Request, exc: ExportdError) -> Response:
    """The database is down: 503 with ``Retry-After``; a notice where htmx asked for a
    fragment, a page otherwise, nothing for the live stream (it reconnects)."""
    retry = {"Retry-After": str(getattr(exc, "retry_after_s", None) or 5)}
    if "text/event-stream" in request.headers.get("accept", ""):
        return Response(status_code=503, headers=retry)
    if request.headers.get("HX-Request"):
        return HTMLResponse(_refusal(exc), status_code=503, headers={**_NOTICE, **retry})
    return templates.TemplateResponse(
        request,
        "unavailable.html",
        {"message": notice_text(exc.code, exc.message), "code": exc.code},
        status_code=503,
        headers={**retry, "Cache-Control": "no-store"},
    )


# -- signing in -------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def exports_page(
    request: Request, cursor: Annotated[str | None, Query(max_length=512)] = None
) -> Response:
    try:
        principal = session.principal_of(request)
    except Unauthenticated as exc:
        if exc.code == "auth_required":
            return _sign_in_page(request, None)
        return _sign_in_page(request, (notice_text(exc.code, exc.message), exc.code), status=401)
    try:
        return _main_page(Page(request, principal), cursor)
    except RequestInvalid:  # a stale or mangled cursor: the newest exports instead
        return RedirectResponse("/exports", status_code=303)


def _sign_in_page(
    request: Request,
    problem: tuple[str, str] | None,
    *,
    status: int = 200,
    end_session: bool = True,
) -> Response:
    """``problem``: what went wrong in words, and its code (shown in small print)."""
    settings: Settings = request.app.state.settings
    demo = DEMO_USERS if settings.page_sign_in_demo else ()
    words, code = problem or (None, None)
    context = {"problem": words, "code": code, "demo_users": demo}
    response = templates.TemplateResponse(request, "signin.html", context, status_code=status)
    if problem and end_session:
        session.sign_out(response, request)  # an ended session, or a failed new sign-in
    return response


def _not_from_this_site(request: Request) -> Response:
    # Another site's form: refused, and the visitor's own session is left as it was.
    problem = ("Sign in from this site's own page.", "csrf_failed")
    return _sign_in_page(request, problem, status=403, end_session=False)


def _main_page(p: Page, cursor: str | None = None) -> Response:
    """The page; with ``cursor`` its list starts there (older exports, for a browser
    without JavaScript: the page's own "Older exports" link fetches them in place)."""
    from exportd.web.destinations import destination_context  # it imports this module

    sources = [s.describe() for s in p.request.app.state.sources.all() if s.allows(p.principal)]
    usage = p.exports.usage(p.principal)
    listed = p.exports.list_exports(p.principal, limit=PAGE_SIZE, cursor=cursor)
    mark = bool(usage["limits"]["watermark"])
    context = {
        "principal": p.principal,
        "csrf": p.csrf,
        "usage": usage,
        "sources": sources,
        "source_form": _source_form(p, sources[0] if sources else None),
        "rows": p.rows(listed.items, watermark=mark),
        "next_cursor": listed.next_cursor,
        "older": cursor is not None,  # a later page of the list: no live stream of the newest
        "documents_panel": _documents_html(p),
        "schedules": p.request.app.state.schedules.list_schedules(p.principal),
        **destination_context(p),
        "idempotency_key": uuid.uuid4().hex,
    }
    return templates.TemplateResponse(
        p.request, "page.html", context, headers={"Cache-Control": "no-store"}
    )


@router.post("/sign-in")
def sign_in(request: Request, token: Annotated[str, Form(max_length=8192)]) -> Response:
    if not session.from_this_site(request):
        return _not_from_this_site(request)
    response = RedirectResponse("/exports", status_code=303)
    try:
        session.sign_in(response, request, token.strip())
    except Unauthenticated as exc:
        return _sign_in_page(request, (notice_text(exc.code, exc.message), exc.code), status=401)
    return response


@router.post("/sign-in/demo")
def sign_in_demo(request: Request, user: Annotated[str, Form(max_length=32)]) -> Response:
    if not session.from_this_site(request):
        return _not_from_this_site(request)
    settings: Settings = request.app.state.settings
    chosen = demo_user(user)
    if not settings.page_sign_in_demo or chosen is None:
        problem = ("Demo sign-in is not available here.", "")
        return _sign_in_page(request, problem, status=403)
    if not _demo_host(request, settings):
        problem = ("Demo sign-in is offered only at this server's own address.", "host_refused")
        return _sign_in_page(request, problem, status=403, end_session=False)
    response = RedirectResponse("/exports", status_code=303)
    session.sign_in(response, request, chosen.token(jwt_key(settings), ttl_s=86_400))
    return response


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


def _demo_host(request: Request, settings: Settings) -> bool:
    """Whether the page was asked for by a name of this server: loopback or the public
    URL's host.  A site whose DNS name is rebound to 127.0.0.1 passes the same-origin
    check (its Origin and Host agree) but names itself in Host, and gets no demo session."""
    host = (request.headers.get("host") or "").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    public = urlsplit(settings.public_url)
    return name in _LOOPBACK_NAMES or host == public.netloc.lower()


@router.post("/sign-out")
def sign_out(request: Request, csrf: Annotated[str, Form(max_length=64)] = "") -> Response:
    response = RedirectResponse("/exports", status_code=303)
    try:
        page(request).check_csrf(csrf)
    except Forbidden:
        return response  # another site's form: the session stays
    session.sign_out(response, request)
    return response


# -- the create form --------------------------------------------------------------------


def _source_form(p: Page, source: dict[str, Any] | None, preset: str | None = None) -> str:
    if source is None:
        return ""
    kind = source["kind"]
    skip = ("document_id", "page_size") if kind == "document" else ()
    presets = source["column_presets"]
    plan = p.exports.plan(p.principal)
    choices = forms.format_choices(source["formats"], plan.formats_allowed)
    return render(
        "_source_fields.html",
        source=source,
        formats=choices,
        plan_note=forms.plan_note(choices, plan.name),
        fields=forms.fields_of(source["params_schema"], skip=skip),
        columns=forms.ordered_columns(source["columns"], presets.get(preset or "")),
        preset=preset,
        templates=[t.describe() for t in builtin_catalogue().all()] if kind == "document" else [],
        # The documents store's picker, for a source that reads it (as ``resume`` does).
        documents=p.request.app.state.documents.list_documents(p.principal)
        if "document_id" in source["params_schema"].get("properties", {})
        else [],
        email=p.principal.email,
    )


def _described(p: Page, name: str) -> dict[str, Any] | None:
    source = p.request.app.state.sources.get(name)
    if source is None or not source.allows(p.principal):
        return None
    described: dict[str, Any] = source.describe()
    return described


@router.get("/form", response_class=HTMLResponse)
def source_form(
    request: Request,
    source: Annotated[str, Query(max_length=64)],
    preset: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    p = page(request)
    described = _described(p, source)
    if described is None:
        return HTMLResponse(_notice(f"no source named {source!r}"), headers=_NOTICE)
    return HTMLResponse(_source_form(p, described, preset or None))


@router.post("/new", response_class=HTMLResponse)
async def create(request: Request) -> HTMLResponse:
    form = await request.form()
    return await run_in_threadpool(_create, request, form)


def _create(request: Request, form: FormData) -> HTMLResponse:
    def act(p: Page) -> str:
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        view, _created = p.exports.create(
            p.principal,
            _request_from(p, fields, form.getlist("col")),
            idempotency_key=fields.get("idempotency_key") or None,
            correlation_id=str(request.state.request_id),
        )
        queued = f"Queued {view.source} as {view.format.upper()}."
        return (
            p.row(view)
            + render("_idempotency.html", key=uuid.uuid4().hex)  # the next export's key
            + render("_notice.html", kind="ok", message=queued, fields=[], oob=True)
            + p.usage_html(oob=True)
        )

    return _act(request, act)


def _request_from(p: Page, fields: dict[str, str], columns: list[Any]) -> ExportRequest:
    described = _described(p, fields.get("source", ""))
    if described is None:
        raise RequestInvalid("choose a source", code="source_unknown")
    chosen = [value for value in columns if isinstance(value, str)]
    body = forms.export_body(fields, chosen, described)
    try:
        return ExportCreate.model_validate(body).to_domain()
    except ValidationError as exc:
        raise RequestInvalid(
            "the form does not validate",
            code="request_invalid",
            errors=[
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
            ],
        ) from None


# -- acting on an export ----------------------------------------------------------------


def _act(request: Request, action: Callable[[Page], str]) -> HTMLResponse:
    """A page action: signed in, the CSRF token checked, errors as a notice."""
    p = page(request)
    try:
        p.check_csrf()
        return HTMLResponse(action(p))
    except ExportdError as exc:
        return _failure(exc)


@router.get("/older", response_class=HTMLResponse)
def older(request: Request, cursor: Annotated[str, Query(max_length=512)]) -> HTMLResponse:
    """The next rows of the list (the API's cursor), and the link to the ones after."""
    p = page(request)
    try:
        listed = p.exports.list_exports(p.principal, limit=PAGE_SIZE, cursor=cursor)
    except ExportdError as exc:
        return _failure(exc)
    rows = "".join(row_html(row) for row in p.rows(listed.items))
    return HTMLResponse(rows + render("_older.html", next_cursor=listed.next_cursor, oob=True))


@router.post("/{export_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, export_id: str) -> HTMLResponse:
    # Only ever cancels: an export that completed while the button was on screen stays
    # (its card says so) — deleting is the Delete button's job.
    def act(p: Page) -> str:
        try:
            view = p.exports.cancel_active(p.principal, export_id)
        except Conflict as exc:
            if exc.code != "export_not_active":
                raise
            view = p.exports.get(p.principal, export_id)
            return p.row(view, flash=TOO_LATE_TO_CANCEL.get(view.status))
        if view.status is ExportStatus.CANCELLED:
            return p.row(view, flash="Cancelled.") + p.usage_html(oob=True)
        # Running: the worker stops at its next checkpoint; the live stream shows it.
        return p.row(view, flash="Cancelling: it stops within moments.")

    return _act(request, act)


@router.post("/{export_id}/delete", response_class=HTMLResponse)
def delete(request: Request, export_id: str) -> HTMLResponse:
    def act(p: Page) -> str:
        p.exports.delete_finished(p.principal, export_id)  # its file goes with it
        return p.usage_html(oob=True)  # and its row is replaced by nothing

    return _act(request, act)


@router.post("/{export_id}/retry", response_class=HTMLResponse)
def retry(request: Request, export_id: str) -> HTMLResponse:
    return _act(request, lambda p: p.row(p.exports.retry(p.principal, export_id)))


@router.post("/{export_id}/again", response_class=HTMLResponse)
def run_again(request: Request, export_id: str) -> HTMLResponse:
    """The same request once more: how an expired file comes back."""

    def act(p: Page) -> str:
        correlation_id = str(request.state.request_id)
        view = p.exports.create_again(p.principal, export_id, correlation_id=correlation_id)
        return p.row(view) + p.usage_html(oob=True)

    return _act(request, act)


@router.get("/{export_id}/download")
def download(request: Request, export_id: str) -> Response:
    """A fresh one-time link, followed at once: the page's links never go stale."""
    p = page(request)
    downloads: Downloads = request.app.state.downloads
    try:
        link = downloads.issue(p.principal, export_id)
    except ExportdError as exc:
        status = 404 if isinstance(exc, NotFound) else 409
        return HTMLResponse(_refusal(exc), status_code=status)
    return RedirectResponse(link.url, status_code=303)


@router.get("/usage", response_class=HTMLResponse)
def usage(request: Request) -> HTMLResponse:
    return HTMLResponse(page(request).usage_html())


# -- documents --------------------------------------------------------------------------


def _documents_html(p: Page) -> str:
    return render(
        "_documents.html",
        documents=p.request.app.state.documents.list_documents(p.principal),
        templates=[t.describe() for t in builtin_catalogue().all()],
        csrf=p.csrf,
    )


@router.post("/documents/{document_id}/default", response_class=HTMLResponse)
def make_default(request: Request, document_id: str) -> HTMLResponse:
    def act(p: Page) -> str:
        p.request.app.state.documents.make_default(p.principal, document_id)
        return _documents_html(p)

    return _act(request, act)


@router.get("/documents/{document_id}/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    document_id: str,
    template: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    p = page(request)
    state = request.app.state
    try:
        html = state.documents.preview(
            p.principal, document_id, template, previews=state.previews, fonts_url=fonts_url
        )
    except ExportdError as exc:  # shown in the preview's frame, as a preview would be
        return HTMLResponse(_refusal(exc), status_code=200, headers=PREVIEW_HEADERS)
    return HTMLResponse(html, headers=PREVIEW_HEADERS)
