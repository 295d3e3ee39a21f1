"""Trace context: one trace id from the first request to the last consumer (issue 16).

A request or an event is handled inside `span(...)`, which puts a `TraceContext` in a context
variable: every log line written meanwhile carries its `trace_id` (observability.py), and every
outbox row written meanwhile carries it on to Kafka as a W3C `traceparent` header (and the
older `trace_id` header), so the next consumer continues the same trace.

Where a trace id comes from: a valid W3C `traceparent` (HTTP header or Kafka record header),
else the legacy `X-Trace-Id` / `trace_id` header, else a new random id. A legacy id that is not
32 hex digits keeps its text in logs and headers; its W3C form is a digest of it, the same in
every service.

OpenTelemetry spans are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is
set (`setup_tracing`); otherwise no provider or exporter exists and spans are only the context
variable. Span attributes are ids and names, never personal details.

Ids are drawn from `random` (as OpenTelemetry's own id generator does): they must be unique,
not secret, and a system call to the OS's random source per span costs more than the span.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
LEGACY_HEADER = "trace_id"  # the Kafka header older events carry
ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_LEGACY_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str  # as logged and sent in the `trace_id` header
    span_id: str  # 16 hex digits: the span now running

    @property
    def traceparent(self) -> str:
        return format_traceparent(self.trace_id, self.span_id)


_current: ContextVar[TraceContext | None] = ContextVar("mailintake_trace", default=None)
_pending_trace_id: ContextVar[int | None] = ContextVar("mailintake_pending_trace_id", default=None)
_tracer: Any = None  # an OpenTelemetry tracer, only when exporting
_provider: Any = None


# -- the W3C header: pure functions ------------------------------------------------------


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) of a valid W3C `traceparent`, else None."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace_id) == {"0"} or set(span_id) == {"0"}:
        return None
    return trace_id, span_id


def w3c_trace_id(trace_id: str) -> str:
    """The 32-hex W3C form of a trace id: itself when it already is one, else a digest of it."""
    lowered = trace_id.lower()
    if _HEX32.match(lowered) and set(lowered) != {"0"}:
        return lowered
    return hashlib.sha256(trace_id.encode()).hexdigest()[:32]


def format_traceparent(trace_id: str, span_id: str) -> str:
    return f"00-{w3c_trace_id(trace_id)}-{span_id}-01"


def new_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def exporting() -> bool:
    """Whether spans are exported (annotations are worth building)."""
    return _tracer is not None


def incoming(headers: Mapping[str, str], legacy: str) -> tuple[str, str | None]:
    """(trace id, remote parent span id) from a request's or a record's headers.

    `legacy` names the older plain trace-id header (`x-trace-id` on HTTP, `trace_id` on Kafka)."""
    return continued(headers.get(TRACEPARENT), headers.get(legacy))


def continued(traceparent: str | None, legacy: str | None) -> tuple[str, str | None]:
    """(trace id, remote parent span id) from a `traceparent` value, else a legacy trace id, else new."""
    parsed = parse_traceparent(traceparent)
    if parsed is not None:
        return parsed
    given = (legacy or "").strip()
    # An opaque id of plain characters only: it is logged, so no spaces, '@' or anything longer.
    return (given if _LEGACY_ID.match(given) else new_trace_id()), None


# -- the current context ---------------------------------------------------------------


def current() -> TraceContext | None:
    return _current.get()


def current_trace_id() -> str | None:
    ctx = _current.get()
    return ctx.trace_id if ctx else None


def outgoing_headers(trace_id: str | None = None) -> dict[str, str]:
    """Headers an outbox row carries: the current trace (or `trace_id`, continued from here)."""
    ctx = _current.get()
    if trace_id is None and ctx is None:
        return {}
    if ctx is None or (trace_id is not None and trace_id != ctx.trace_id):
        tid = trace_id or new_trace_id()
        return {LEGACY_HEADER: tid, TRACEPARENT: format_traceparent(tid, new_span_id())}
    return {LEGACY_HEADER: ctx.trace_id, TRACEPARENT: ctx.traceparent}


@contextmanager
def span(
    name: str, *, trace_id: str, parent_span_id: str | None = None, kind: str = "internal", **attributes: Any
) -> Iterator[TraceContext]:
    """Run the block as a span of trace `trace_id` (child of `parent_span_id` when given)."""
    if _tracer is None:
        ctx = TraceContext(trace_id, new_span_id())
        token = _current.set(ctx)
        try:
            yield ctx
        finally:
            _current.reset(token)
        return
    with _otel_span(name, trace_id, parent_span_id, kind, attributes) as ctx:
        yield ctx


def annotate(**attributes: Any) -> None:
    """Add attributes (ids, names, codes: nothing personal) to the exported span now running."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes(attributes)


# -- OpenTelemetry, only when an endpoint is configured ------------------------------------


def setup_tracing(service: str) -> bool:
    """Start exporting spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

    Returns whether an exporter was created. Without the variable nothing is imported."""
    global _tracer, _provider
    if not os.environ.get(ENDPOINT_VARIABLE, "").strip():
        _tracer = None
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class _ChosenTraceIds(RandomIdGenerator):
        """A root span takes the trace id this service chose (a legacy header, or its own)."""

        def generate_trace_id(self) -> int:
            chosen = _pending_trace_id.get()
            return chosen if chosen is not None else super().generate_trace_id()

    provider = TracerProvider(resource=Resource.create({"service.name": service}), id_generator=_ChosenTraceIds())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=1000))
    _provider, _tracer = provider, provider.get_tracer("mailintake")
    log.info("tracing exported over OTLP", extra={"service": service})
    return True


def shutdown_tracing() -> None:
    """Flush and stop the exporter (at service shutdown)."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is not None:
        try:
            provider.shutdown()
        except Exception as exc:
            log.warning("tracing shutdown failed", extra={"error": type(exc).__name__})


@contextmanager
def _otel_span(
    name: str, trace_id: str, parent_span_id: str | None, kind: str, attributes: dict[str, Any]
) -> Iterator[TraceContext]:
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    w3c = int(w3c_trace_id(trace_id), 16)
    start_in: otel_context.Context | None
    if parent_span_id is not None:
        parent = trace.SpanContext(w3c, int(parent_span_id, 16), is_remote=True, trace_flags=trace.TraceFlags(1))
        start_in = trace.set_span_in_context(trace.NonRecordingSpan(parent), otel_context.Context())
    else:
        enclosing = _current.get()
        # a child of the span now running when it is of the same trace, else a new root
        same_trace = enclosing is not None and enclosing.trace_id == trace_id
        start_in = None if same_trace else otel_context.Context()
    kinds = {"server": trace.SpanKind.SERVER, "consumer": trace.SpanKind.CONSUMER}
    pending = _pending_trace_id.set(w3c)
    try:
        # No recorded exception or status text: an exception's message may quote personal details.
        with _tracer.start_as_current_span(
            name,
            context=start_in,
            kind=kinds.get(kind, trace.SpanKind.INTERNAL),
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as otel_span:
            ctx = TraceContext(trace_id, format(otel_span.get_span_context().span_id, "016x"))
            token = _current.set(ctx)
            try:
                yield ctx
            except BaseException as exc:
                otel_span.set_attribute("error.type", type(exc).__name__)
                otel_span.set_status(trace.Status(trace.StatusCode.ERROR))
                raise
            finally:
                _current.reset(token)
    finally:
        _pending_trace_id.reset(pending)
