"""What every ``exportd`` command shares: its consoles, settings read at the edge, the
operator's database, and the one way a refusal ends a command (a message naming the
problem and an exit code, never a traceback)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console

from exportd.config import Settings, load_settings
from exportd.db import Database, create_database
from exportd.errors import ConfigError, ExportdError
from exportd.logs import configure_logging

T = TypeVar("T")
out = Console()
err = Console(stderr=True, soft_wrap=True)


def settings_or_exit(**overrides: object) -> Settings:
    """The settings, or exit 2 naming the bad one."""
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None
    configure_logging(settings)
    return settings


def check_sources(settings: Settings) -> None:
    """Every source loads, and each one's named connection is configured (a source on
    an unknown connection stops the start, naming both)."""
    from exportd.sources.loading import load_sources

    try:
        load_sources(settings.source_modules, settings.sql_sources, settings.connections)
    except ConfigError as exc:
        err.print(f"[red]exportd: {exc.message}[/red]")
        raise typer.Exit(2) from None


def or_exit(action: Callable[[], T]) -> T:
    """The action's result, or exit 1 with the refusal's message and code."""
    try:
        return action()
    except ExportdError as exc:
        err.print(f"[red]exportd: {exc.message}[/red] ({exc.code})")
        raise typer.Exit(1) from None


def existing_database(settings: Settings) -> Database:
    """The migrated database an operator's command works on. Run from the wrong folder,
    the default SQLite path names nothing: say where we looked instead of creating an
    empty database there and failing on its missing tables."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from exportd.db.migrate import current_revision

    url = make_url(settings.database_url)
    path = url.database or ""
    on_disk = path not in ("", ":memory:") and not path.startswith("file:")
    if url.get_backend_name() == "sqlite" and on_disk and not Path(path).is_file():
        err.print(
            f"[red]exportd: no database at {Path(path).resolve()} "
            "(EXPORTD_DATABASE_URL; the default is ./var/exportd.db from where you run "
            "it): run this from the service's folder, set EXPORTD_DATABASE_URL, or "
            "create it with `exportd migrate`[/red]"
        )
        raise typer.Exit(2)
    db = create_database(settings)
    try:
        revision = current_revision(db)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        err.print(f"[red]exportd: cannot reach the database: {reason}[/red]")
        raise typer.Exit(1) from None
    if revision is None:
        err.print("[red]exportd: the database is empty: run `exportd migrate` first[/red]")
        raise typer.Exit(2)
    return db
