"""The page's session: the user's token in an HttpOnly cookie, and a CSRF token bound to it.

A browser cannot put ``Authorization`` on an ``EventSource`` or a plain link, so the page
keeps the token the user signed in with in a cookie that scripts cannot read
(``SameSite=Lax``).  Every change the page makes is a POST that must also carry
``X-CSRF-Token`` (htmx sends it from the page): an HMAC of the cookie's value, which
another site can neither read nor compute.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request, Response

from exportd.auth.principal import Principal
from exportd.auth.tokens import TokenVerifier
from exportd.errors import Forbidden, Unauthenticated

COOKIE = "exportd_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"


def csrf_token(secret_key: str, session_token: str) -> str:
    mac = hmac.new(secret_key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def principal_of(request: Request) -> Principal:
    """The signed-in user; Unauthenticated (with the verifier's code) when there is none."""
    token = session_token(request)
    if token is None:
        raise Unauthenticated("sign in first", code="auth_required")
    verifier: TokenVerifier = request.app.state.tokens
    return verifier.verify(token)


def check_csrf(request: Request, secret_key: str, form_value: str | None = None) -> None:
    token = session_token(request)
    sent = request.headers.get(CSRF_HEADER) or form_value or ""
    if token is None or not hmac.compare_digest(sent, csrf_token(secret_key, token)):
        raise Forbidden("the page's form is stale: reload it", code="csrf_failed")


def sign_in(response: Response, request: Request, token: str) -> None:
    # A browser-session cookie: the token's own expiry still ends it sooner.
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/exports",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/exports")
