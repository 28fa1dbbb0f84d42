"""An app on a loopback port, served by uvicorn in a thread of the test process: real HTTP
for a client or a browser, without starting another interpreter."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import structlog
import uvicorn
from fastapi import FastAPI

from tests.support.mail import free_port


@contextmanager
def served(app: FastAPI, *, lifespan: Literal["on", "off"] = "on") -> Iterator[str]:
    """The app's base URL while it is served (``lifespan="off"`` for an app a TestClient
    has started already)."""
    # The app's log lines into a buffer: by default structlog writes to whatever
    # sys.stdout is at the time, which is a CliRunner's capture while a command runs.
    before = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(io.StringIO()))
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan=lifespan, log_config=None, ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="served-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the app did not start"
        assert time.monotonic() < deadline, "the app did not start in time"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        structlog.configure(**before)
