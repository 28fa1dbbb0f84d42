"""``exportd destinations list|test``: your destinations on a running server, as a user
(``EXPORTD_URL``, ``EXPORTD_TOKEN``), like ``exportd exports``.

``test`` writes a probe object or file and removes it; it exits 1 when that fails, with
the code a delivery there would fail with.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exportd.cli_client import DEFAULT_URL, Token, Url
from exportd.cli_client import _call as call  # the client CLI's one way to the server
from exportd.client import ExportdClient

out = Console()
err = Console(stderr=True, soft_wrap=True)
destinations_app = typer.Typer(
    no_args_is_help=True, help="Your destinations (S3, SFTP) on a running server."
)


def register(app: typer.Typer) -> None:
    app.add_typer(destinations_app, name="destinations")


@destinations_app.command("list")
def list_destinations(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Your destinations: id, name, kind and where files go."""
    items = call(url, token, lambda c: c.destinations())
    if not items:
        out.print("no destinations (POST /v1/destinations makes one)")
        return
    table = Table("id", "name", "kind", "where")
    for item in items:
        table.add_row(item["id"], item["name"], item["kind"], where(item))
    out.print(table)


@destinations_app.command("test")
def probe_destination(
    destination: Annotated[str, typer.Argument(help="The destination's id or name.")],
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Write a probe to the destination and remove it; exit 1 if that fails."""
    result = call(url, token, lambda c: c.test_destination(_resolve(c, destination)))
    if result["ok"]:
        out.print(f"ok: {result['message']} ({result['elapsed_ms']:.0f} ms)", highlight=False)
        return
    err.print(f"[red]failed: {result['code']}: {result['message']}[/red]", highlight=False)
    raise typer.Exit(1)


def where(item: dict[str, Any]) -> str:
    config = item["config"]
    if item["kind"] == "s3":
        prefix = f"/{config['prefix']}" if config.get("prefix") else ""
        endpoint = f" at {config['endpoint_url']}" if config.get("endpoint_url") else ""
        return f"s3://{config['bucket']}{prefix}{endpoint}"
    return f"sftp://{config['username']}@{config['host']}:{config['port']}/{config['directory']}"


def _resolve(client: ExportdClient, destination: str) -> str:
    """An id as it is; a name is looked up among the caller's destinations."""
    named = [d["id"] for d in client.destinations() if destination in (d["id"], d["name"])]
    return named[0] if named else destination  # unknown: the server says 404
