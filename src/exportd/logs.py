"""Structured logs: JSON lines in production (or when not on a terminal), readable otherwise.

Events carry ids and codes only: never row data, secrets or tokens.  A one-time download
link is its own credential, and its token sits in the URL path
(``/v1/downloads/<token>``): every path that reaches a log — uvicorn's access and error
lines, exportd's events, tracebacks — is written with the token replaced by
``[redacted]``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from exportd.config import Settings
from exportd.threads import install_excepthook

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


# Everything after a "downloads" path segment, however the path was spelled: a token
# sent to /v1/./downloads/…, /v1/downloads//… or /V1/DOWNLOADS/… answers 404 but is still
# a working credential, and the access log prints the path as it was sent.
_DOWNLOAD_TOKEN = re.compile(r"(downloads)(?:/|%2f)+[^\s\"'<>?#]*", re.IGNORECASE)
REDACTED_DOWNLOAD = "/v1/downloads/[redacted]"


def redact(text: str) -> str:
    """``text`` with the token of any download link in it replaced."""
    if "downloads" not in text.lower():  # the common case, without a regex
        return text
    return _DOWNLOAD_TOKEN.sub(r"\1/[redacted]", text)


def redact_path(path: str) -> str:
    """A request path with all of a download link's token hidden: the path is decoded,
    so a token may hold a space, which ends a match in free text."""
    head, found, _ = path.lower().partition("downloads/")
    return path[: len(head)] + path[len(head) : len(head) + 9] + "/[redacted]" if found else path


def _redact_event(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


class RedactingFilter(logging.Filter):
    """For the standard library's loggers (uvicorn's access and error lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters reuse ``exc_text``: a traceback's messages may quote the path.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


# uvicorn configures these (with handlers of its own) in each server process; exportd's
# app factory calls configure_logging after that, so the filters are on in every one.
_STDLIB_LOGGERS = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "uvicorn.asgi")


def _redact_stdlib_logs() -> None:
    for name in _STDLIB_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def configure_logging(settings: Settings) -> None:
    json_lines = settings.log_format == "json" or (
        settings.log_format == "auto" and (settings.env == "production" or not sys.stderr.isatty())
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,  # after the traceback is text: it is redacted too
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[settings.log_level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _redact_stdlib_logs()
    # Every long-running process configures its logs first: serve (and each of uvicorn's
    # processes), worker, its children, demo.  A thread's uncaught exception is an event.
    install_excepthook()
