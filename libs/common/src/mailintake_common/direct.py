"""Hot routes the service frame calls itself, past FastAPI's router and request handler (issue 18).

Below our frame FastAPI runs, for every request, its exception and exit-stack middlewares, its
router (an included router's effective route contexts), the request handler (telemetry context,
body reading, dependency solving) and the endpoint: about 100 us of CPU per accepted e-mail on
this machine, against about 75 us for the endpoint's own work outside the database. A route
marked `direct` is called by the frame (frame.py) as FastAPI would call it, without those
layers, and only when FastAPI would pick that route for the request:

- the exception handlers are the app's own, applied as Starlette's exception middleware applies
  them (`wrap_app_handling_exceptions` with that middleware's handlers), so an `ApiError`, a
  413 while the body streams in or a dropped database connection is answered as before, and
  anything else goes up to the server-error middleware as before;
- `scope["route"]` names the route, as FastAPI's router sets it (the access line names it);
- the endpoint's arguments other than `request` come from the route's `values` reader, which
  returns None for anything but the plain case: the request, with the body it read, then goes
  the whole FastAPI way, so every refusal (invalid JSON, a validation error's locations) is
  FastAPI's own answer (tests/intake/unit/test_direct_routes.py holds both paths to it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The endpoint's arguments besides `request`, or None: let FastAPI handle this request.
Values = Callable[[Request], Awaitable[dict[str, Any] | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])
MEMORY = 1024  # (method, path) pairs remembered


async def request_only(_: Request) -> dict[str, Any]:
    """For an endpoint that reads everything from the request itself."""
    return {}


def direct(values: Values = request_only) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint for the frame to call directly; put it between the route and `gated`."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.direct_values = values  # type: ignore[attr-defined]
        return endpoint

    return mark


class DirectRoutes:
    """Which requests the frame calls directly, and the call; None from `route_for`: FastAPI's way."""

    def __init__(self, service_app: FastAPI, routes: list[APIRoute], inner: ASGIApp) -> None:
        self.service_app = service_app
        self.routes = routes  # the gate's: the service's own routes, in the order they were included
        # The app's exception middleware is the next layer below the frame; without it, no direct calls.
        self.inner = inner if isinstance(inner, ExceptionMiddleware) else None
        self._chosen: dict[tuple[str, str], APIRoute | None] = {}

    def route_for(self, scope: Scope) -> APIRoute | None:
        if self.inner is None:
            return None
        slot = (scope["method"], scope["path"])
        if slot in self._chosen:
            return self._chosen[slot]
        if len(self._chosen) >= MEMORY:  # paths with ids in them would grow it forever
            self._chosen.clear()
        chosen = self._chosen[slot] = self._choose(scope)
        return chosen

    def _choose(self, scope: Scope) -> APIRoute | None:
        """The marked route FastAPI's router would pick: the first of the service's routes to match
        fully, when none of the app's own routes (probes, OpenAPI) matches fully before them."""
        for candidate in self.service_app.router.routes:  # routes of the app's own, and included routers
            if isinstance(candidate, Route) and candidate.matches(scope)[0] is Match.FULL:
                return None
        for route in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                return route if hasattr(route.endpoint, "direct_values") else None
        return None

    async def call(self, route: APIRoute, scope: Scope, receive: Receive, send: Send) -> None:
        """What the exception middleware, FastAPI's router and its request handler would do."""
        assert self.inner is not None
        scope["starlette.exception_handlers"] = (self.inner._exception_handlers, self.inner._status_handlers)
        scope["route"] = route
        scope.setdefault("path_params", {})
        request = Request(scope, receive, send)

        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            values = await route.endpoint.direct_values(request)  # type: ignore[attr-defined]
            if values is None:  # not the plain case: FastAPI's whole way, with the body read so far
                await self.inner.app(scope, _replayed(request, receive), send)  # type: ignore[union-attr]
                return
            response = await route.endpoint(request=request, **values)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(endpoint, request)(scope, receive, send)


def _replayed(request: Request, receive: Receive) -> Receive:
    """`receive` giving the body `request` has read first (all of it), then the client's messages."""
    body: bytes | None = getattr(request, "_body", None)  # Starlette keeps what `body()` read there
    if body is None:
        return receive

    async def replay() -> Message:
        nonlocal body
        if body is None:
            return await receive()
        message: Message = {"type": "http.request", "body": body, "more_body": False}
        body = None
        return message

    return replay
