"""An app takes its routes as the routers built them at import (exportd.api.routers): none
is built again per app, and none misses what the app would have added to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from exportd.api.app import create_app
from exportd.api.routers import operation_id
from exportd.api.routes import exports
from exportd.api.single_query import single_query_values
from exportd.config import load_settings
from tests.support.sources import fake_sources


def new_app(folder: Path) -> FastAPI:
    settings = load_settings(
        database_url=f"sqlite:///{folder}/app.db", storage_url=f"file://{folder}/files"
    )
    return create_app(settings, sources=fake_sources())  # its lifespan disposes its database


@pytest.fixture
def apps(tmp_path: Path) -> tuple[FastAPI, FastAPI]:
    return new_app(tmp_path / "one"), new_app(tmp_path / "two")


def api_routes(app: FastAPI) -> list[APIRoute]:
    return [route for route in app.routes if isinstance(route, APIRoute)]


def test_two_apps_share_the_routes_the_routers_built(apps: tuple[FastAPI, FastAPI]) -> None:
    one, two = apps
    assert exports.router.routes[0] in one.routes
    shared = {id(route) for route in api_routes(one)} & {id(route) for route in api_routes(two)}
    # All but the few each app declares itself (/healthz, /metrics, docs, ...).
    assert len(shared) >= len(api_routes(one)) - 10 > 50


def test_every_route_refuses_a_repeated_query_parameter(apps: tuple[FastAPI, FastAPI]) -> None:
    for route in api_routes(apps[0]):
        calls = {dependency.call for dependency in route.dependant.dependencies}
        assert single_query_values in calls, route.path


def test_every_documented_operation_is_named_for_its_function(
    apps: tuple[FastAPI, FastAPI],
) -> None:
    for route in api_routes(apps[0]):
        if route.include_in_schema:
            assert route.unique_id == operation_id(route) == route.name, route.path


def test_a_repeated_parameter_is_refused_by_a_routers_route(tmp_path: Path) -> None:
    with TestClient(new_app(tmp_path)) as client:
        response = client.get("/v1/exports?limit=1&limit=2")
    assert (response.status_code, response.json()["code"]) == (422, "request_invalid")
