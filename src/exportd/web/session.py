"""The page's session: a random session id in an HttpOnly cookie, a CSRF token bound to
it, and a same-origin check on signing in.

A browser cannot put ``Authorization`` on an ``EventSource`` or a plain link, so the page
keeps a session in a cookie that scripts cannot read (``SameSite=Lax``).  The cookie
holds only a random id; the server keeps who it is for (auth/page_sessions.py), so
signing out ends it everywhere at once and the user's token never sits in the browser.

Every change the page makes is a POST that must also carry ``X-CSRF-Token`` (htmx sends
it from the page): an HMAC of the session id, which another site can neither read nor
compute.  Signing in has no session yet to bind a token to, so it must come from the
page itself (``from_this_site``): otherwise another site could sign a visitor in as the
attacker (login CSRF) and watch what they export.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from urllib.parse import urlsplit

import jwt
from fastapi import Request, Response

from exportd.auth.page_sessions import PageSessions
from exportd.auth.principal import Principal
from exportd.auth.tokens import TokenVerifier
from exportd.errors import Forbidden, Unauthenticated

COOKIE = "exportd_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"


def csrf_token(secret_key: str, session_id: str) -> str:
    mac = hmac.new(secret_key.encode(), b"csrf:" + session_id.encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def session_id(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


def _sessions(request: Request) -> PageSessions:
    sessions: PageSessions = request.app.state.page_sessions
    return sessions


def principal_of(request: Request) -> Principal:
    """The signed-in user; Unauthenticated (``auth_required``, ``session_ended``,
    ``session_expired``) when there is none."""
    current = session_id(request)
    if current is None:
        raise Unauthenticated("sign in first", code="auth_required")
    return _sessions(request).principal(current)


def check_csrf(request: Request, secret_key: str, form_value: str | None = None) -> None:
    current = session_id(request)
    sent = request.headers.get(CSRF_HEADER) or form_value or ""
    if current is None or not hmac.compare_digest(sent, csrf_token(secret_key, current)):
        raise Forbidden("the page's form is stale: reload it", code="csrf_failed")


def from_this_site(request: Request) -> bool:
    """Whether a form was posted by this site's own page, not by another site's.

    ``Sec-Fetch-Site`` when the browser sends it (every current one does): only
    ``same-origin``, or ``none`` (the user's own action, such as a bookmark).  Else the
    ``Origin`` (or, without one, the ``Referer``) must name this host.  A request with
    none of them is not a browser's form post, and carries nobody's cookie to plant.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    # "Origin: null" (a sandboxed frame, a redirect from elsewhere) names no host: refused.
    return urlsplit(claimed).netloc.lower() == request.headers.get("host", "").lower()


def sign_in(response: Response, request: Request, token: str) -> None:
    """A new session for the token's principal, in the response's cookie (the token is
    verified here: Unauthenticated with the verifier's code when it is not good)."""
    verifier: TokenVerifier = request.app.state.tokens
    principal = verifier.verify(token)
    opened = _sessions(request).open(
        principal, not_after=_expiry(token), replacing=session_id(request)
    )
    # A browser-session cookie: the server's expiry (the token's, or sooner) ends it first.
    response.set_cookie(
        COOKIE,
        opened,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/exports",
    )


def sign_out(response: Response, request: Request) -> None:
    """End the session on the server (a copied cookie stops working) and forget it."""
    current = session_id(request)
    if current is not None:
        _sessions(request).close(current)
    response.delete_cookie(COOKIE, path="/exports")


def _expiry(token: str) -> float | None:
    """The token's ``exp``, read once it was verified (the signature is checked)."""
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool) and math.isfinite(exp):
        return float(exp)
    return None
