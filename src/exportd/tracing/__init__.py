"""Tracing: OpenTelemetry spans when switched on, nothing at all when not.

This facade imports no OpenTelemetry.  Until :func:`configure` (``EXPORTD_OTEL_ENABLED``)
or :func:`install` (tests) switches the process on, every call returns the shared
:data:`NO_SPAN` or ``None``: the cost is a global read.  Only then is
:mod:`exportd.tracing._otel`, and with it the SDK, imported.

Spans carry identifiers, names and sizes, never secrets, tokens, addresses or row data:
an error is its code (``error.type``), never its message, which may quote the data.

The trace context travels as a W3C ``traceparent`` string: stored with a job when it is
enqueued (the queue's ``traceparent`` column), handed to the child that runs an attempt,
sent back with the outcome for what its settle hook enqueues, and sent to webhook
receivers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from exportd.config import Settings
    from exportd.tracing._otel import Tracing

Kind = Literal["internal", "server", "client", "producer", "consumer"]
Value = str | int | float | bool


class SpanHandle(Protocol):
    def set(self, key: str, value: Value | None) -> None:
        """An attribute (None: left out)."""

    def fail(self, code: str) -> None:
        """Mark the span failed with a stable code (``error.type``), never a message."""

    def rename(self, name: str) -> None: ...

    @property
    def traceparent(self) -> str | None: ...


class _NoSpan:
    """Tracing is off: a context manager and a span that do nothing."""

    traceparent = None

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, key: str, value: Value | None) -> None:
        pass

    def fail(self, code: str) -> None:
        pass

    def rename(self, name: str) -> None:
        pass


NO_SPAN = _NoSpan()
_tracing: Tracing | None = None


def configure(settings: Settings) -> None:
    """Switch tracing on when the settings say so (once per process: the first wins)."""
    global _tracing
    if not settings.otel_enabled or _tracing is not None:
        return
    from exportd.tracing._otel import from_settings

    _tracing = from_settings(settings)


def install(provider: Any) -> None:
    """Trace through this ``TracerProvider`` (tests: an in-memory exporter's)."""
    global _tracing
    from exportd.tracing._otel import Tracing

    _tracing = Tracing(provider)


def uninstall() -> None:
    global _tracing
    _tracing = None


def enabled() -> bool:
    return _tracing is not None


def span(
    name: str, attributes: Mapping[str, Value | None] | None = None, *, kind: Kind = "internal"
) -> AbstractContextManager[SpanHandle]:
    """A span, current while the block runs; an exception ends it failed (its code)."""
    if _tracing is None:
        return NO_SPAN
    return _tracing.span(name, attributes, kind=kind)


def job_attempt(
    *, task: str, job_id: int, attempt: int, correlation_id: str | None, traceparent: str | None
) -> AbstractContextManager[SpanHandle]:
    """One attempt of a job: the first is a child of the span that enqueued it; a later
    one starts a trace of its own, linked to that span (a retry an hour later does not
    stretch the request's trace)."""
    if _tracing is None:
        return NO_SPAN
    return _tracing.job_attempt(
        task=task,
        job_id=job_id,
        attempt=attempt,
        correlation_id=correlation_id,
        traceparent=traceparent,
    )


def server_span(
    method: str, headers: Iterable[tuple[bytes, bytes]]
) -> AbstractContextManager[SpanHandle]:
    """An HTTP request's span, continuing the caller's W3C trace context if it sent one."""
    if _tracing is None:
        return NO_SPAN
    return _tracing.server_span(method, headers)


def annotate(attributes: Mapping[str, Value | None]) -> None:
    """Add attributes to the current span (a task naming what its attempt works on)."""
    if _tracing is not None:
        _tracing.annotate(attributes)


def current_traceparent() -> str | None:
    """The current span's context as a ``traceparent`` value, or None."""
    return None if _tracing is None else _tracing.current_traceparent()


def inject(headers: dict[str, str]) -> None:
    """Add the current ``traceparent`` to outgoing headers (no ``tracestate``, no baggage:
    what the caller of exportd put there is not for a third party)."""
    traceparent = current_traceparent()
    if traceparent is not None:
        headers["traceparent"] = traceparent


def attached(traceparent: str | None) -> AbstractContextManager[None]:
    """Make a stored context current for a block (what a settle hook enqueues joins the
    attempt's trace)."""
    if _tracing is None or traceparent is None:
        return contextlib.nullcontext()
    return _tracing.attached(traceparent)
