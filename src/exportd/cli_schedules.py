"""``exportd schedules list|create|show|pause|resume|run|delete``: your recurring exports
on a running server, as a user (``EXPORTD_URL``, ``EXPORTD_TOKEN``), as ``exportd
exports`` does for exports.  Exit codes: 0 done, 1 the server refused, 2 bad usage."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from exportd.cli_client import (
    DEFAULT_URL,
    Columns,
    Format,
    Params,
    Token,
    Url,
    _call,
    _fail,
    an_id,
)
from exportd.cli_params import params_of
from exportd.client import ExportdClient

out = Console()
app = typer.Typer(no_args_is_help=True, help="Your recurring exports on a running server.")
ScheduleId = Annotated[str, typer.Argument(help="The schedule's id.", callback=an_id)]


@app.command("list")
def list_schedules(url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Your schedules, newest first."""
    items = _call(url, token, lambda c: c.schedules())
    table = Table("id", "name", "export", "when", "status", "next run", "last export")
    for s in items:
        export = s["export"]
        status = s["status"] + (f" ({s['paused_reason']})" if s["paused_reason"] else "")
        table.add_row(
            s["id"],
            s["name"] or "",
            f"{export['source']} {export['format']}",
            _when(s),
            status,
            (s["next_run_at"] or "")[:19],
            s["last_export_id"] or "",
        )
    out.print(table)


@app.command("create")
def create_schedule(
    source: Annotated[str, typer.Argument(help="What to export: trades, resume, …")],
    format_: Format = "csv",
    param: Params = None,
    columns: Columns = None,
    cron: Annotated[
        str | None, typer.Option(help="Five cron fields, e.g. '0 6 * * 1' (Mondays 06:00).")
    ] = None,
    every: Annotated[str | None, typer.Option(help="An interval: 1h, 1d, 7d.")] = None,
    timezone: Annotated[str, typer.Option("--tz", help="IANA time zone of --cron.")] = "UTC",
    skip_if_empty: Annotated[
        bool, typer.Option("--skip-if-empty", help="No file and no notice when there are no rows.")
    ] = False,
    webhook: Annotated[str | None, typer.Option(help="A URL to call after each run.")] = None,
    name: Annotated[str | None, typer.Option(help="A name to know it by.")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Export SOURCE on a cron expression (--cron, --tz) or an interval (--every)."""
    if (cron is None) == (every is None):
        raise _fail("give --cron or --every (one of them)", 2)
    export: dict[str, Any] = {"source": source, "format": format_}
    if columns:
        export["columns"] = [c.strip() for c in columns.split(",") if c.strip()]
    if webhook:
        export["notify"] = {"webhook_url": webhook}
    body: dict[str, Any] = {
        "export": export,
        "timezone": timezone,
        "skip_if_empty": skip_if_empty,
        "active": not paused,
        **({"cron": cron} if cron else {"every": every}),
        **({"name": name} if name else {}),
    }

    def create(client: ExportdClient) -> dict[str, Any]:
        export["params"] = params_of(client, source, param or [])
        return client.create_schedule(body)

    created = _call(url, token, create)
    out.print(f"{created['id']} {created['status']}, next run {created['next_run_at']}")


@app.command("show")
def show_schedule(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """One schedule in full: its export, timing, status, last error."""
    out.print_json(data=_call(url, token, lambda c: c.schedule(schedule_id)))


@app.command("pause")
def pause_schedule(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Stop its runs until resumed."""
    _change(url, token, schedule_id, active=False)


@app.command("resume")
def resume_schedule(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Run it again from now on (the failure count starts over)."""
    _change(url, token, schedule_id, active=True)


@app.command("run")
def run_schedule(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Run it now, paused or not: prints the export it made."""
    export = _call(url, token, lambda c: c.run_schedule(schedule_id))
    out.print(f"{export['id']} {export['status']}")


@app.command("delete")
def delete_schedule(schedule_id: ScheduleId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Delete it; the exports it made stay."""
    _call(url, token, lambda c: c.delete_schedule(schedule_id))
    out.print(f"{schedule_id} deleted")


def _change(url: str, token: str, schedule_id: str, **body: Any) -> None:
    def change(client: ExportdClient) -> dict[str, Any]:
        return client.change_schedule(schedule_id, body)

    changed = _call(url, token, change)
    reason = f" ({changed['paused_reason']})" if changed["paused_reason"] else ""
    out.print(f"{changed['id']} {changed['status']}{reason}")


def _when(schedule: dict[str, Any]) -> str:
    if schedule["cron"]:
        return f"{schedule['cron']} {schedule['timezone']}"
    return f"every {schedule['every']}"
