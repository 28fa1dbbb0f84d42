"""The redaction of download tokens, on the kinds of log record a live server makes
(tests/e2e/test_log_redaction.py searches a real server's output)."""

from __future__ import annotations

import logging
import sys

from exportd.logs import RedactingFilter, _redact_event, redact

TOKEN = "AbC-12_x.1796194962.hFicx_G-L6oZebjRgRyIBcPmPVS9jLMge6Iib-g3d20"


def test_redact_keeps_everything_but_the_token() -> None:
    assert redact(f"/v1/downloads/{TOKEN}") == "/v1/downloads/[redacted]"
    assert redact(f'"GET /v1/downloads/{TOKEN}?x=1 HTTP/1.1"') == (
        '"GET /v1/downloads/[redacted]?x=1 HTTP/1.1"'
    )
    assert redact("/v1/exports/abc/download") == "/v1/exports/abc/download"


def test_a_traceback_that_quotes_the_path_is_redacted() -> None:
    try:
        raise RuntimeError(f"failed on /v1/downloads/{TOKEN}")
    except RuntimeError:
        record = logging.LogRecord(
            "uvicorn.error",
            logging.ERROR,
            __file__,
            1,
            "%s",
            (f"/v1/downloads/{TOKEN}",),
            sys.exc_info(),
        )
    assert RedactingFilter().filter(record)
    line = logging.Formatter().format(record)
    assert TOKEN not in line
    assert line.startswith("/v1/downloads/[redacted]\n")  # the message
    assert "RuntimeError: failed on /v1/downloads/[redacted]" in line  # the traceback


def test_structlog_events_are_redacted() -> None:
    event = _redact_event(None, "error", {"path": f"/v1/downloads/{TOKEN}", "n": 1})
    assert event == {"path": "/v1/downloads/[redacted]", "n": 1}
