"""``exportd queues list|pause NAME|resume NAME``: the queues on this node's database, as
an operator.  Pausing stops new claims on every worker (running jobs finish) until
resumed; the state is in the database, so restarts keep it.  Exit codes: 0 done, 1
refused (an unknown queue), 2 bad usage or no database."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from exportd.cli_common import existing_database, or_exit, out, settings_or_exit
from exportd.ops.queues import QueueOps
from exportd.queue.control import QueueState

app = typer.Typer(no_args_is_help=True, help="Pause and resume queues.")
QueueName = Annotated[str, typer.Argument(help="The queue, e.g. default.")]


def _ops() -> QueueOps:
    return QueueOps(existing_database(settings_or_exit()))


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "cli"


def _show(states: list[QueueState]) -> None:
    table = Table("queue", "state", "queued", "running", "paused at", "paused by")
    for q in states:
        paused_at = q.paused_at.strftime("%Y-%m-%d %H:%M:%S") if q.paused_at else ""
        table.add_row(
            q.name,
            "paused" if q.paused else "running",
            str(q.queued),
            str(q.running),
            paused_at,
            q.paused_by or "",
        )
    out.print(table)


@app.command("list")
def list_queues() -> None:
    """Every known queue: paused or not, queued and running jobs."""
    _show(_ops().list())


@app.command("pause")
def pause_queue(name: QueueName) -> None:
    """Stop new claims on a queue; its running jobs finish."""
    _show([or_exit(lambda: _ops().pause(name, by=_who()))])


@app.command("resume")
def resume_queue(name: QueueName) -> None:
    """Let workers claim the queue's jobs again."""
    _show([or_exit(lambda: _ops().resume(name, by=_who()))])
