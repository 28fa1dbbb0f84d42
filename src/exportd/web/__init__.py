"""The /exports web page: server-rendered HTML with htmx, vendored, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from exportd.api.routers import add_routes
from exportd.web import admin, destinations, download_page, fonts, live, routes, schedule_panel


def install(app: FastAPI) -> None:
    app.mount(
        "/exports/static",
        StaticFiles(directory=Path(__file__).parent / "static"),
        name="exports-static",
    )
    app.add_exception_handler(routes.SignInRequired, routes.sign_in_redirect)
    app.state.page_errors = ("/exports", routes.unavailable)  # see api.problems
    add_routes(
        app,
        live.router,
        admin.router,  # before the page's /exports/{id}/… routes
        download_page.router,  # before the page's /exports/{id}/… routes
        fonts.router,
        schedule_panel.router,  # before the page's /exports/{id}/… routes
        destinations.router,  # before the page's /exports/{id}/… routes
        routes.router,
    )
    app.add_api_route(
        "/", lambda: RedirectResponse("/exports"), include_in_schema=False, methods=["GET"]
    )
