"""Waiting for PostgreSQL notices on a LISTENing psycopg connection, cheaply.

psycopg's ``Connection.notifies(timeout=...)`` costs about 1 ms of CPU each time it
comes back with nothing (measured with psycopg 3.3, whatever the timeout), so a listener
that came back every 50 ms to see whether it should stop spent 18-22 ms of CPU a second
while nothing happened: in the API (the change feed) and in every worker (the wake-ups).
Here the wait is a ``poll()`` on the connection's socket and on a bell (a self-pipe)
that ``stop()`` rings, and ``notifies(timeout=0)`` reads what came: it also hands over
the notices psycopg kept aside while another statement ran on the connection (the
change feed's pings).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

from exportd.wakeup import Wakeup, readable

# A LISTENing connection only reads: one a NAT or load balancer dropped in silence (they
# forget idle flows after minutes) would be waited on forever, its notices lost.  libpq's
# TCP keepalives find it gone within about a minute; the connection's own URL wins.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}


def listen_conninfo(url: str, *, application_name: str) -> str:
    """libpq's URI for a listening connection to the database of ``url`` (SQLAlchemy's),
    named ``application_name`` (what an operator sees in ``pg_stat_activity``), with TCP
    keepalives unless the URL sets its own."""
    parsed = make_url(url)
    extra = {k: v for k, v in KEEPALIVES.items() if k not in parsed.query}
    extra["application_name"] = application_name
    return (
        parsed.set(drivername="postgresql")
        .update_query_dict(extra)
        .render_as_string(hide_password=False)
    )


def wait_for_notices(conn: Any, *, timeout_s: float | None, bell: Wakeup) -> list[Any]:
    """The notices that reached ``conn`` (a psycopg connection that LISTENs): those that
    already have, at once; else those that come within ``timeout_s``, or none when the
    bell rings first.  A lost connection raises psycopg's ``OperationalError``: at once,
    or on the next call when this one only read the server's last words."""
    came = list(conn.notifies(timeout=0))
    if came:
        return came
    conn_ready, bell_rang = _ready(conn.fileno(), bell.fileno(), timeout_s)
    if bell_rang:
        bell.drain()
    return list(conn.notifies(timeout=0)) if conn_ready else []


def _ready(conn_fd: int, bell_fd: int, timeout_s: float | None) -> tuple[bool, bool]:
    """Whether the connection's socket and the bell are ready, once either is or the
    time is up."""
    ready = readable([conn_fd, bell_fd], timeout_s)
    return conn_fd in ready, bell_fd in ready
