"""Tracing through the OpenTelemetry SDK: imported only once tracing is switched on.

exportd keeps its own ``TracerProvider`` instead of installing a global one: what it
exports is exactly the spans below, whose attributes are listed in docs/operations.md.
Exceptions are never recorded as span events (their messages may quote row data): a
failed span carries the error's code in ``error.type``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from exportd.config import Settings
from exportd.errors import ConfigError
from exportd.tracing import Kind, Value

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
    from opentelemetry.trace import Link, SpanKind, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        "EXPORTD_OTEL_ENABLED is set but OpenTelemetry is not installed: "
        "pip install 'exportd[otel]'"
    ) from None

SERVICE_NAME = "exportd"
_KINDS = {
    "internal": SpanKind.INTERNAL,
    "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT,
    "producer": SpanKind.PRODUCER,
    "consumer": SpanKind.CONSUMER,
}
# W3C trace context only: baggage a caller sends is neither kept nor passed on.
_PROPAGATOR = TraceContextTextMapPropagator()


class _Span:
    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: Value | None) -> None:
        if value is not None:
            self._span.set_attribute(key, value)

    def fail(self, code: str) -> None:
        self._span.set_attribute("error.type", code)
        self._span.set_status(StatusCode.ERROR)

    def rename(self, name: str) -> None:
        self._span.update_name(name)

    @property
    def traceparent(self) -> str | None:
        return _format(self._span.get_span_context())


class Tracing:
    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("exportd")

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Value | None] | None = None,
        *,
        kind: Kind = "internal",
        context: otel_context.Context | None = None,
        links: Sequence[Link] = (),
    ) -> Iterator[_Span]:
        with self.tracer.start_as_current_span(
            name,
            context=context,
            kind=_KINDS[kind],
            attributes=_present(attributes),
            links=links,
            record_exception=False,  # an exception event would carry its message
            set_status_on_exception=False,
        ) as span:
            handle = _Span(span)
            try:
                yield handle
            except BaseException as exc:
                handle.fail(error_type(exc))
                raise

    def job_attempt(
        self,
        *,
        task: str,
        job_id: int,
        attempt: int,
        correlation_id: str | None,
        traceparent: str | None,
    ) -> AbstractContextManager[_Span]:
        attributes: Mapping[str, Value | None] = {
            "exportd.job.task": task,
            "exportd.job.id": job_id,
            "exportd.job.attempt": attempt,
            "exportd.correlation_id": correlation_id,
        }
        enqueued = _extract(traceparent)
        if enqueued is None or attempt <= 1:
            return self.span(
                "exportd.job.attempt",
                attributes,
                kind="consumer",
                context=enqueued or otel_context.Context(),
            )
        first = Link(
            trace.get_current_span(enqueued).get_span_context(), {"exportd.link": "enqueued"}
        )
        return self.span(
            "exportd.job.attempt",
            attributes,
            kind="consumer",
            context=otel_context.Context(),  # a root: the retry's own trace
            links=[first],
        )

    def server_span(
        self, method: str, headers: Iterable[tuple[bytes, bytes]]
    ) -> AbstractContextManager[_Span]:
        carrier = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in headers
            if name.lower() in (b"traceparent", b"tracestate")
        }
        parent = _PROPAGATOR.extract(carrier) if carrier else otel_context.Context()
        return self.span(method, {"http.request.method": method}, kind="server", context=parent)

    def annotate(self, attributes: Mapping[str, Value | None]) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(_present(attributes))

    def current_traceparent(self) -> str | None:
        return _format(trace.get_current_span().get_span_context())

    @contextmanager
    def attached(self, traceparent: str) -> Iterator[None]:
        context = _extract(traceparent)
        token = otel_context.attach(context) if context is not None else None
        try:
            yield
        finally:
            if token is not None:
                otel_context.detach(token)


def from_settings(settings: Settings) -> Tracing:
    """A provider exporting in batches through the configured exporter; the standard
    OTEL_* variables set its resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), its
    sampler (OTEL_TRACES_SAMPLER) and the batching (OTEL_BSP_*)."""
    resource = Resource.create({})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter(settings.otel_exporter)))
    return Tracing(provider)


def exporter(name: str) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ConfigError(
                "EXPORTD_OTEL_EXPORTER=otlp needs the OTLP exporter: pip install 'exportd[otel]'"
            ) from None
        return OTLPSpanExporter()
    module, _, function = name.partition(":")
    try:
        made = getattr(importlib.import_module(module), function)()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"EXPORTD_OTEL_EXPORTER: cannot load {name!r}: {exc}") from None
    if not isinstance(made, SpanExporter):
        raise ConfigError(f"EXPORTD_OTEL_EXPORTER: {name!r} did not return a SpanExporter")
    return made


def error_type(exc: BaseException) -> str:
    """A stable code for a span: exportd's own, or the exception's class."""
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _present(attributes: Mapping[str, Value | None] | None) -> dict[str, Value]:
    return {k: v for k, v in (attributes or {}).items() if v is not None}


def _extract(traceparent: str | None) -> otel_context.Context | None:
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def _format(context: trace.SpanContext) -> str | None:
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
