"""Text no database column can hold is refused at the edge: 422 ``text_invalid``.

PostgreSQL's text and JSON types cannot hold NUL (U+0000), and no UTF-8 encoder can
write a lone UTF-16 surrogate (what a JSON ``"\\ud800"`` decodes to).  Either one,
anywhere in a request, used to reach the database as a driver error: a 500 on
PostgreSQL (SQLite stored what PostgreSQL refuses).  One guard in front of every route,
on every backend, refuses them instead of a check on each field:

- the path, the query string and every header, before the app runs;
- the body as the app reads it: a raw NUL byte, ``%00`` in a form, and in JSON any
  string (key or value) with NUL or a lone surrogate.  A route that never reads its
  body never stores it, so nothing is read for it (nor for GET, HEAD or OPTIONS).
"""

from __future__ import annotations

import json
import re
from itertools import chain
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exportd.api.problems import problem

CODE = "text_invalid"
# No route reads a body on these; a streaming answer to one (server-sent events) still
# calls receive() to hear a disconnect, and must not be broken by a body it ignores.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
_UNFIT = re.compile("[\x00\ud800-\udfff]")


class TextRefused(HTTPException):
    """Raised while the app reads the body (FastAPI passes HTTP exceptions through)."""

    def __init__(self, where: str) -> None:
        super().__init__(422, _detail(where))
        self.where = where


def install(app: FastAPI) -> None:
    app.add_middleware(TextGuardMiddleware)
    app.add_exception_handler(TextRefused, _refused)


class TextGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _in_head(scope)
        if where is not None:
            await _response(Request(scope), where)(scope, receive, send)
            return
        if scope["method"] in _BODILESS:
            await self.app(scope, receive, send)  # a body here is never read for its content
            return
        await self.app(scope, _checked(receive, _content_type(scope)), send)


def _in_head(scope: Scope) -> str | None:
    if "\x00" in scope["path"]:
        return "the path"
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        return "the query string"
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if b"\x00" in b"".join(chain.from_iterable(headers)):  # one scan; names only if found
        name = next(name for name, value in headers if b"\x00" in name + value)
        return f"the {name.decode('latin-1')} header"
    return None


def _checked(receive: Receive, content_type: bytes) -> Receive:
    """``receive`` that checks the whole body once its last part has been read."""
    parts: list[bytes] = []

    async def receive_checked() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            parts.append(message.get("body", b""))
            if not message.get("more_body", False) and _body_unfit(b"".join(parts), content_type):
                raise TextRefused("the body")
        return message

    return receive_checked


def _body_unfit(body: bytes, content_type: bytes) -> bool:
    if b"\x00" in body:
        return True
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        return b"%00" in body
    # In JSON, NUL and surrogates can only be written as \u escapes: parse only then.
    return b"\\u" in body and _json_unfit(body)


def _json_unfit(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return False  # not JSON: the route's own parsing answers for it
    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNFIT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value).lower()
    return b""


def _detail(where: str) -> str:
    return f"{where} holds a NUL character or a lone surrogate, which text cannot store"


def _response(request: Request, where: str) -> JSONResponse:
    return problem(request, status=422, code=CODE, detail=_detail(where))


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TextRefused)
    return _response(request, exc.where)
