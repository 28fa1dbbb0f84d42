"""Routers whose routes are built once, when their module is imported, and apps that
take those routes as they are.

FastAPI's ``include_router`` builds every route of the router again for each app (its
dependencies, parameters and models: about 100 ms for exportd's routes), lazily, at the
app's first request.  That is a slow first answer from every new server process, and
in the tests, which build an app per test, the largest cost of all.  A route declared on
one of these routers already carries what the app would add (the house dependencies and
the operation ids that generated clients are named after), so an app adds the route
object itself.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from exportd.api.single_query import single_query_values

# Every route, the app's own included (``FastAPI(dependencies=...)``).
HOUSE_DEPENDENCIES = [Depends(single_query_values)]


def operation_id(route: APIRoute) -> str:
    """Generated clients name their functions after these: create_export, get_export."""
    return route.name


def api_router(
    *, prefix: str = "", tags: list[str | Enum] | None = None, include_in_schema: bool = True
) -> APIRouter:
    return APIRouter(
        prefix=prefix,
        tags=tags,
        include_in_schema=include_in_schema,
        dependencies=HOUSE_DEPENDENCIES,
        generate_unique_id_function=operation_id,
    )


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Add the routers' routes to ``app`` in order (the first that matches answers)."""
    for router in routers:
        app.router.routes.extend(router.routes)


def route_options() -> dict[str, Any]:
    """What ``FastAPI(...)`` takes so that its own routes match these routers'."""
    return {"dependencies": HOUSE_DEPENDENCIES, "generate_unique_id_function": operation_id}
