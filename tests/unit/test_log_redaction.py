"""The redaction of download tokens, on the kinds of log record a live server makes
(tests/e2e/test_log_redaction.py searches a real server's output)."""

from __future__ import annotations

import logging
import sys

import pytest

from exportd.logs import RedactingFilter, _redact_event, redact, redact_path

TOKEN = "AbC-12_x.1796194962.hFicx_G-L6oZebjRgRyIBcPmPVS9jLMge6Iib-g3d20"


def test_redact_keeps_everything_but_the_token() -> None:
    assert redact(f"/v1/downloads/{TOKEN}") == "/v1/downloads/[redacted]"
    assert redact(f'"GET /v1/downloads/{TOKEN}?x=1 HTTP/1.1"') == (
        '"GET /v1/downloads/[redacted]?x=1 HTTP/1.1"'
    )
    assert redact("/v1/exports/abc/download") == "/v1/exports/abc/download"
    # The page an emailed link opens carries the same token.
    assert redact(f'"HEAD /exports/downloads/{TOKEN} HTTP/1.1"') == (
        '"HEAD /exports/downloads/[redacted] HTTP/1.1"'
    )
    assert redact_path(f"/exports/downloads/{TOKEN}") == "/exports/downloads/[redacted]"


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


@pytest.mark.parametrize(
    "path",
    [
        "/v1/./downloads/TOKEN.123.SIG",
        "/v1/x/../downloads/TOKEN.123.SIG",
        "/v1/downloads//TOKEN.123.SIG",
        "/v1/downloads/%2e/TOKEN.123.SIG",
        "/V1/DOWNLOADS/TOKEN.123.SIG",
        "/v1/downloads%2FTOKEN.123.SIG",
    ],
)
def test_a_token_under_any_spelling_of_the_path_is_redacted(path: str) -> None:
    # These answer 404, yet the token in them still downloads: it must not be logged.
    line = f'127.0.0.1:5555 - "GET {path} HTTP/1.1" 404'
    assert "TOKEN" not in redact(line)
    assert "SIG" not in redact(line)
    assert redact(line).endswith(' HTTP/1.1" 404')


def test_a_problems_instance_hides_a_token_with_a_space_in_it() -> None:
    assert redact_path("/v1/downloads/TOKEN. 123.SIG") == "/v1/downloads/[redacted]"
    assert redact_path("/v1/exports/e1") == "/v1/exports/e1"
