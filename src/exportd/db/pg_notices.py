"""Waiting for PostgreSQL notices on a LISTENing psycopg connection, cheaply.

psycopg's ``Connection.notifies(timeout=...)`` costs about 1 ms of CPU each time it
comes back with nothing (measured with psycopg 3.3, whatever the timeout), so a listener
that came back every 50 ms to see whether it should stop spent 18-22 ms of CPU a second
while nothing happened: in the API (the change feed) and in every worker (the wake-ups).
Here the wait is a ``select()`` on the connection's socket and on a bell (a self-pipe)
that ``stop()`` rings, and ``notifies(timeout=0)`` reads what came: it also hands over
the notices psycopg kept aside while another statement ran on the connection (the
change feed's pings).
"""

from __future__ import annotations

import select
from typing import Any

from exportd.wakeup import Wakeup


def wait_for_notices(conn: Any, *, timeout_s: float | None, bell: Wakeup) -> list[Any]:
    """The notices that reached ``conn`` (a psycopg connection that LISTENs): those that
    already have, at once; else those that come within ``timeout_s``, or none when the
    bell rings first.  A lost connection raises psycopg's ``OperationalError``: at once,
    or on the next call when this one only read the server's last words."""
    came = list(conn.notifies(timeout=0))
    if came:
        return came
    readable, _, _ = select.select([conn.fileno(), bell], [], [], timeout_s)
    if bell in readable:
        bell.drain()
    return list(conn.notifies(timeout=0)) if readable else []
