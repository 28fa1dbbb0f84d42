"""Every error leaves as ``application/problem+json`` (RFC 9457) with a stable ``code``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, routing
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from exportd import errors
from exportd.db.errors import is_unavailable
from exportd.logs import redact_path

log = structlog.get_logger("exportd.api")

PROBLEM_JSON = "application/problem+json"

STATUS = {
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.JobNotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.InvalidTransition: 409,
    errors.RequestInvalid: 422,
    errors.LimitReached: 429,
    errors.ServiceDisabled: 503,
    errors.ServiceUnavailable: 503,
}

HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
# Validators' own error types that are a rule's code, not a malformed request (schemas.py).
RULE_CODES = {"timezone_unknown", "locale_unknown"}


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"https://exportd.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": redact_path(request.url.path),  # a download link's token is a credential
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _status_of(exc: errors.ExportdError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def _exportd_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ExportdError)
    if _status_of(exc) >= 500:
        log.error("api.error", code=exc.code, path=request.url.path)
    return _problem_of(request, exc)


def _problem_of(request: Request, exc: errors.ExportdError) -> JSONResponse:
    status = _status_of(exc)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{exc.code}"'
        )
    retry_after_s = getattr(exc, "retry_after_s", None)  # a limit, a busy dependency
    if retry_after_s:
        headers["Retry-After"] = str(retry_after_s)
    if isinstance(exc, errors.RequestInvalid) and exc.errors:
        extra["errors"] = exc.errors
    return problem(
        request, status=status, code=exc.code, detail=exc.message, headers=headers, **extra
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    malformed = _malformed_body(request, exc)
    if malformed is not None:
        return malformed
    fields = [
        {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
        for e in exc.errors()
    ]
    # Only rules' refusals (a zone this server does not know…): the first one's code (the
    # errors name them all); any malformed part makes it the shape's.
    codes = [str(e["type"]) for e in exc.errors()]
    ruled = set(codes) <= RULE_CODES
    return problem(
        request,
        status=422,
        code=codes[0] if ruled else "request_invalid",
        detail="a value this server does not know" if ruled else "the request does not validate",
        errors=fields,
    )


def _malformed_body(request: Request, exc: RequestValidationError) -> JSONResponse | None:
    """A body that is not JSON at all: say where it breaks, or that its type is wrong,
    instead of listing every field as missing."""
    for error in exc.errors():
        if error["type"] == "json_invalid":
            text = exc.body if isinstance(exc.body, str) else ""
            position = int(error["loc"][-1]) if isinstance(error["loc"][-1], int) else 0
            line = text.count("\n", 0, position) + 1
            column = position - (text.rfind("\n", 0, position) + 1) + 1
            reason = error.get("ctx", {}).get("error", "JSON decode error")
            where = f"line {line}, column {column}"
            return problem(
                request,
                status=422,
                code="json_invalid",
                detail=f"the body is not valid JSON: {reason} at {where}",
                errors=[{"field": "body", "message": f"{reason} at {where}"}],
            )
        sent = request.headers.get("content-type", "")
        if error["loc"] == ("body",) and isinstance(error.get("input"), bytes) and sent:
            return problem(
                request,
                status=415,
                code="content_type_unsupported",
                detail=f"the body must be application/json, not {sent.split(';')[0]}",
            )
    return None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):  # FastAPI's 400 for a JSON body's bytes
        return _not_utf8(request, cause)
    if isinstance(cause, RecursionError):  # arrays or objects nested past the parser's depth
        return problem(
            request,
            status=422,
            code="json_invalid",
            detail="the body is not valid JSON here: it is nested too deeply",
            errors=[{"field": "body", "message": "nested too deeply"}],
        )
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    headers = getattr(exc, "headers", None)
    allowed = _allowed(request) if exc.status_code == 405 else None
    if allowed:
        # Starlette names the methods of the first route that matched the path; each
        # method is its own route here, so name every one of that path's.
        headers = {**(headers or {}), "Allow": allowed}
    return problem(
        request, status=exc.status_code, code=code, detail=str(exc.detail), headers=headers
    )


def _not_utf8(request: Request, cause: UnicodeDecodeError) -> JSONResponse:
    where = f"byte {cause.start + 1}"
    return problem(
        request,
        status=422,
        code="json_invalid",
        detail=f"the body is not valid JSON: it is not UTF-8 at {where}",
        errors=[{"field": "body", "message": f"not UTF-8 at {where}"}],
    )


def _allowed(request: Request) -> str | None:
    """The methods of the path (as routed: ``/v1/exports/failed`` is not
    ``/v1/exports/{export_id}``, though both match it)."""
    routes = [r for r in routing.iter_route_contexts(request.app.routes) if r.methods]
    first = next((r for r in routes if r.matches(request.scope)[0] is not Match.NONE), None)
    if first is None:
        return None
    methods = {m for r in routes if r.path == first.path for m in r.methods or ()}
    return ", ".join(sorted(methods))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The trace goes to the log; the client gets a code and the request id, nothing else.
    log.exception("api.unexpected_error", path=request.url.path)
    return problem(
        request, status=500, code="internal_error", detail="something went wrong on our side"
    )


# A page (HTML) that renders the error its own way: (path prefix, renderer).
PageErrors = tuple[str, Callable[[Request, errors.ExportdError], Response]]


async def _database_error(request: Request, exc: Exception) -> Response:
    """Driver and SQLAlchemy errors, translated here, at the HTTP boundary: an outage is a
    503 the client may retry; anything else is a bug, left to ``_unexpected`` (500)."""
    if not is_unavailable(exc):
        raise exc
    # The driver's message may name hosts and databases: the type is enough to act on.
    log.warning("api.database_unavailable", error=type(exc).__name__, path=request.url.path)
    unavailable = errors.DatabaseUnavailable()
    page: PageErrors | None = getattr(request.app.state, "page_errors", None)
    if page is not None and _under(request.url.path, page[0]):
        return page[1](request, unavailable)
    return _problem_of(request, unavailable)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _database_error_types() -> tuple[type[Exception], ...]:
    types: list[type[Exception]] = [SQLAlchemyError, sqlite3.Error]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the postgres extra is not installed
        pass
    else:
        types.append(psycopg.Error)
    return tuple(types)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.ExportdError, _exportd_error)
    for database_error in _database_error_types():
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
