"""``exportd ARGS`` in the test process: Typer's runner on the command tree ``exportd``
runs (exportd.cli.command_line), for the steps of a test that are not about the process
itself (its start-up, its signals, what a shell sees of its exit), a Python start-up less
each.

What a real process leaves to its exit is undone: the databases a command opened are
closed, and logging stays as the tests set it (a command configures it for its process,
to the stderr it has then).  Its consoles are as wide as a real process's with
``COLUMNS`` in its environment: rich reads the width once, when a console is made, and
pytest-xdist's workers start with ``COLUMNS=80`` (tables would cut ids short)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from exportd import cli_common
from exportd.cli import command_line
from exportd.config import Settings
from exportd.db import Database, create_database

WIDTH = 200


@contextmanager
def consoles_of_width(width: int) -> Iterator[None]:
    """Every console of exportd's command line ``width`` wide, until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        for name, module in list(sys.modules.items()):
            if name.startswith("exportd.cli"):
                for console in [v for v in vars(module).values() if isinstance(v, Console)]:
                    patch.setattr(console, "_width", width)
        yield


def invoke(args: Sequence[str], env: Mapping[str, str | None] | None = None) -> Result:
    """``exportd ARGS`` with ``env`` over this process's environment (None: unset)."""
    opened: list[Database] = []

    def opening(settings: Settings, **options: Any) -> Database:
        opened.append(create_database(settings, **options))
        return opened[-1]

    with consoles_of_width(WIDTH), pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_common, "configure_logging", lambda settings: None)
        patch.setattr(cli_common, "create_database", opening)
        try:
            environment = {"COLUMNS": str(WIDTH), **(env or {})}
            return CliRunner().invoke(command_line(), list(args), env=environment)
        finally:
            for db in opened:
                db.dispose()
