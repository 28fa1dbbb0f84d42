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
    conn_ready, bell_rang = _ready(conn.fileno(), bell.fileno(), timeout_s)
    if bell_rang:
        bell.drain()
    return list(conn.notifies(timeout=0)) if conn_ready else []


# What poll() reports of a socket that has something to read, or that is closed or in
# error (the next read then says what happened).
_READY = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR | select.POLLNVAL


def _ready(conn_fd: int, bell_fd: int, timeout_s: float | None) -> tuple[bool, bool]:
    """Whether the connection's socket and the bell are ready, once either is or the
    time is up.  poll(), not select(): select() refuses descriptors from 1024 up, which a
    busy API process (a socket a client) reaches."""
    poller = select.poll()
    poller.register(conn_fd, select.POLLIN | select.POLLPRI)
    poller.register(bell_fd, select.POLLIN)
    timeout_ms = None if timeout_s is None else max(0, round(timeout_s * 1000))
    events = dict(poller.poll(timeout_ms))
    return bool(events.get(conn_fd, 0) & _READY), bool(events.get(bell_fd, 0) & _READY)
