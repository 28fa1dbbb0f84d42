"""The API under uvicorn, for ``exportd serve`` and ``exportd demo``.

Two things uvicorn does not do on its own: a port that is taken is found before anything
starts, so the command can say so with the fix (uvicorn finds out after loading the
app); and a Ctrl-C before the server serves stops the start-up at once (uvicorn notes
it, finishes starting, logs that it runs, and only then stops).
"""

from __future__ import annotations

import errno
import signal
import socket
from types import FrameType

import uvicorn

from exportd.api.long_poll import end_all_waits

APP = "exportd.api.app:app_from_environment"


def listen_problem(host: str, port: int) -> str | None:
    """Why nothing can listen on ``host:port`` now (None: it can), in a few words."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        # SO_REUSEADDR, as uvicorn sets it: a port in TIME_WAIT is not busy.
        with socket.create_server((host, port), family=family):
            return None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "in use"
        return exc.strerror or str(exc)


def free_port_after(host: str, port: int) -> int | None:
    """The first port above ``port`` that is free on ``host`` (to suggest one)."""
    return next(
        (p for p in range(port + 1, min(port + 100, 65536)) if listen_problem(host, p) is None),
        None,
    )


class _Server(uvicorn.Server):
    interrupted = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGINT:
            if not self.started:
                raise KeyboardInterrupt  # stop starting, now
            self.interrupted = True
        end_all_waits()  # uvicorn waits for every request to finish: long polls too
        super().handle_exit(sig, frame)


def run(*, host: str, port: int, workers: int, log_level: str) -> bool:
    """Serve until stopped; True if a Ctrl-C (SIGINT) stopped it."""
    if workers > 1:  # uvicorn's supervisor and its processes handle the signals
        uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, log_level=log_level)
        return False
    config = uvicorn.Config(APP, factory=True, host=host, port=port, log_level=log_level)
    config.load()  # the app: a Ctrl-C here is an ordinary KeyboardInterrupt
    server = _Server(config)
    server.run()
    return server.interrupted
