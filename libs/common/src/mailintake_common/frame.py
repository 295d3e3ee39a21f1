"""The one ASGI layer of ours that every HTTP request passes before FastAPI routes it.

For each request, in one place (issue 18: it was three middlewares, each wrapping `send` again):
- its trace: continued from a W3C `traceparent` header, else `X-Trace-Id`, else new (tracing.py);
  the answer carries `traceparent` (this request's span) and `X-Trace-Id`;
- the request gate (gate.py): size, key and scope before a byte of the body, the body counted;
- our security headers on every answer, refusals and unexpected errors included (gate.py `secured`);
- metrics, span attributes and the access line (observability.py), recorded when the last byte
  of the answer goes out, so a client that has its answer finds the line. Routes, metrics and
  logs name the route template (`/v1/documents/{document_id}`), never the raw path;
- a route marked `direct` (intake's e-mails and web forms) called past FastAPI's router and
  request handler, as FastAPI would call it (direct.py).

A plain ASGI middleware (not `BaseHTTPMiddleware`), so an exception raised while a route reads
the body reaches the app's error handlers unwrapped. It runs on every request, so it builds
nothing it does not use: the request headers are read in one pass over the raw list, span
attributes only when spans are exported, one metric child per label set.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailintake_common import observability as obs
from mailintake_common import tracing
from mailintake_common.direct import DirectRoutes
from mailintake_common.gate import GATE_HEADERS, RequestGate, secured

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
TRACE_HEADERS = frozenset({b"traceparent", b"x-trace-id"})
READ = GATE_HEADERS | TRACE_HEADERS


class ServiceFrame:
    def __init__(
        self,
        app: ASGIApp,
        service: str,
        service_app: FastAPI,
        gate: RequestGate,
        log_probes: bool,
        direct: bool = True,
    ) -> None:
        self.app = app
        self.service = service
        self.service_app = service_app
        self.gate = gate
        self.log_probes = log_probes
        self.direct = DirectRoutes(service_app, [route for route, _ in gate.routes], app) if direct else None
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = request_headers(scope["headers"])
        trace_id, parent = tracing.continued(_text(headers.get(b"traceparent")), _text(headers.get(b"x-trace-id")))
        method = scope["method"]
        status = 500
        recorded = False
        with tracing.span(f"{method} {self.service}", trace_id=trace_id, parent_span_id=parent, kind="server") as ctx:
            scope.setdefault("state", {})["trace_id"] = trace_id
            trace_headers = [(b"x-trace-id", trace_id.encode()), (b"traceparent", ctx.traceparent.encode())]

            answering = False

            async def send_framed(message: Message) -> None:
                nonlocal status, recorded, answering
                if message["type"] == "http.response.start":
                    answering = True
                    status = message["status"]
                    message["headers"] = secured(message.get("headers", ())) + trace_headers
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    recorded = True
                    self._record(scope, method, status, started)
                await send(message)

            try:
                counted = await self.gate.admit(scope, headers, receive, send_framed)
                if counted is not None:
                    route = None if self.direct is None else self.direct.route_for(scope)
                    if route is not None and self.direct is not None:
                        await self.direct.call(route, scope, counted, send_framed)
                    else:
                        await self.app(scope, counted, send_framed)
            except Exception as exc:
                if answering:
                    raise
                await self._unexpected(scope, receive, send_framed, exc)
            finally:
                if not recorded:  # no complete answer: an error, or the client went away
                    self._record(scope, method, status, started)

    async def _unexpected(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        """An exception no handler inside answered, answered here through the app's own handler
        for `Exception` (errors.py: a 500 with a generic body, the stack logged as code locations)
        so that it too carries our headers and the trace; Starlette would answer it outside this
        layer, with neither."""
        handler = self.service_app.exception_handlers.get(Exception)
        if handler is None:
            raise exc
        answer = handler(Request(scope, receive), exc)
        response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _record(self, scope: Scope, method: str, status: int, started: float) -> None:
        """Span attributes, metrics and the access line of one request (inside its span)."""
        route = self._route_of(scope)
        elapsed = time.perf_counter() - started
        if tracing.exporting():
            tracing.annotate(**{"http.request.method": method, "http.route": route})
            tracing.annotate(**{"http.response.status_code": status})
        self._count(method, route, status, elapsed)
        probe = not self.log_probes and scope["path"] in PROBES
        obs.log_access(method, route, status, elapsed * 1000, probe=probe)

    def _count(self, method: str, route: str, status: int, elapsed: float) -> None:
        """The request counter and latency histogram; `labels()` looked up once per label set."""
        key = (method, route, str(status))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = obs.HTTP_REQUESTS.labels(self.service, *key)
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = obs.HTTP_LATENCY.labels(self.service, route)
        counter.inc()
        timer.observe(elapsed)

    def _route_of(self, scope: Scope) -> str:
        """The matched route's template; for a request refused before routing, the one it would match."""
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path", "unmatched"))
        template = self.gate.match(scope)[0]  # the service's own routes, remembered by the gate
        if template is not None:
            return template
        for candidate in self.service_app.router.routes:  # the frame's own: /healthz, /readyz, /metrics
            if isinstance(candidate, BaseRoute) and candidate.matches(scope)[0] is Match.FULL:
                return str(getattr(candidate, "path", "unmatched"))
        return "unmatched"


def request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The headers the frame and the gate read (`READ`), the first value of each (as `Headers.get`)."""
    found: dict[bytes, bytes] = {}
    for name, value in raw:
        if name in READ and name not in found:
            found[name] = value
    return found


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
