"""A query parameter given twice is refused: no operation takes a list in its query, and
taking the last of several (FastAPI's way) would answer a question nobody asked."""

from __future__ import annotations

from fastapi import Request

from exportd.errors import RequestInvalid


def single_query_values(request: Request) -> None:
    """An app-wide dependency: 422 ``request_invalid`` naming each repeated parameter."""
    if not request.url.path.startswith("/v1/") or not request.url.query:
        return
    keys = [key for key, _ in request.query_params.multi_items()]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise RequestInvalid(
            "a query parameter is given more than once",
            code="request_invalid",
            errors=[
                {"field": f"query.{key}", "message": "given more than once"} for key in repeated
            ],
        )
