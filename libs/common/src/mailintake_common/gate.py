"""The request gate every service stands behind: size, key and scope before a byte of the body.

The service frame (frame.py) runs it on every HTTP request, in this order (SPEC 3; issue 15
"Requests and keys"):
1. A declared Content-Length over `MAILINTAKE_MAX_REQUEST_BYTES` gets 413 at once.
2. A route that needs a scope gets 401 for a missing, unknown or revoked key, and 403 for a key
   without the scope, before the route (or FastAPI, which parses bodies before dependencies)
   reads anything. The principal is left in the request state for the route's own dependency.
3. A chunked body is counted as it streams in: the route reading it gets 413 at the first chunk
   that crosses the limit, so at most the limit is ever buffered.
Refusals close the connection, so an unread body is never read to keep it alive.

Also here: the headers every response carries (nosniff, no referrer) and the policy every HTML
response carries (no inline script, no framing).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from mailintake_common.auth import SESSION_COOKIE, authenticate, require_scope
from mailintake_common.db import is_unavailable
from mailintake_common.errors import error_body

log = logging.getLogger(__name__)

HTML_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
HTML_ONLY = [(b"content-security-policy", HTML_POLICY.encode()), (b"x-frame-options", b"DENY")]
OURS = frozenset(name for name, _ in ALWAYS + HTML_ONLY)  # a route's own values for these are replaced


SCOPE_MEMORY = 1024  # (method, path) pairs whose required scopes the gate remembers
GATE_HEADERS = frozenset({b"content-length", b"x-api-key", b"cookie"})


class BodyTooLarge(HTTPException):
    """413 while the body streams in. An HTTPException, because FastAPI passes those through when it
    reads a body for a route (anything else it turns into a 400); errors.py renders it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is over {limit} bytes")


class RequestGate:
    """Steps 1-3 above, for the service frame (frame.py) to run before the app sees a request."""

    def __init__(self, service_app: FastAPI, routers: Iterable[APIRouter], max_bytes: int) -> None:
        self.service_app = service_app
        self.max_bytes = max_bytes
        # Each route with the scopes it requires (`gated`, its dependencies), read once from the routers
        # themselves (FastAPI's own route table is private and changes between versions).
        self.routes = [
            (route, _route_scopes(route))
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute)
        ]
        self._matches: dict[tuple[str, str], tuple[str | None, tuple[str, ...]]] = {}

    async def admit(self, scope: Scope, headers: dict[bytes, bytes], receive: Receive, send: Send) -> Receive | None:
        """The body's `receive`, counted against the limit; None when the request was refused (answered).

        `headers`: the request's headers that the gate reads (`GATE_HEADERS`), first value of each."""
        declared = _content_length(headers.get(b"content-length"))
        if declared is not None and declared > self.max_bytes:
            await send_refusal(send, 413, "payload_too_large", f"the body is over {self.max_bytes} bytes")
            return None
        # SPEC 3: every /v1/ request carries a key; a route's own scopes are checked here too.
        required = self.match(scope)[1]
        if (required or scope["path"].startswith("/v1/")) and not await self._admit(scope, headers, send, required):
            return None
        return _Counted(receive, self.max_bytes)

    async def _admit(self, scope: Scope, headers: dict[bytes, bytes], send: Send, required: tuple[str, ...]) -> bool:
        state = self.service_app.state
        raw_key = headers.get(b"x-api-key")
        key = raw_key.decode("latin-1") if raw_key is not None else None
        # The dashboard's cookie counts only without a key (auth.authenticate): parsed only then.
        session = None if key else cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(SESSION_COOKIE)
        try:
            principal = await authenticate(state.engine, state.key_cache, scope["method"], key, session)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("database unavailable", extra={"path": scope.get("path"), "error": type(exc).__name__})
            detail = "the database is unavailable; nothing was stored, try again"
            await send_refusal(send, 503, "unavailable", detail, [(b"retry-after", b"5")])
            return False
        if principal is None:
            await send_refusal(send, 401, "unauthorized", "missing or unknown API key")
            return False
        lacking = [s for s in required if not principal.holds(s)]
        if lacking:
            await send_refusal(send, 403, "forbidden", f"this key lacks the scope {lacking[0]}")
            return False
        scope.setdefault("state", {})["principal"] = principal
        return True

    def match(self, scope: Scope) -> tuple[str | None, tuple[str, ...]]:
        """The template of the route this request will reach (None: none of the gate's routes) and
        the scopes that route requires; remembered per method and path."""
        slot = (scope["method"], scope["path"])
        known = self._matches.get(slot)
        if known is not None:
            return known
        found: tuple[str | None, tuple[str, ...]] = (None, ())
        for route, scopes in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                found = (route.path, scopes)
                break
        if len(self._matches) >= SCOPE_MEMORY:  # paths with ids in them would grow it forever
            self._matches.clear()
        self._matches[slot] = found
        return found


class _Counted:
    """The request's `receive`, raising `BodyTooLarge` at the first chunk that crosses the limit."""

    __slots__ = ("limit", "receive", "seen")

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.seen = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyTooLarge(self.limit)
        return message


Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])


def gated(scope: str) -> Callable[[Endpoint], Endpoint]:
    """A route's scope without a FastAPI dependency, for the hot routes (issue 18: solving the
    dependency cost intake about 12 us per POST). The gate reads it from the route and refuses
    before the body, as for a dependency's scope; the route checks it again from the principal
    the gate left (or its own look-up: an app without the gate). The route takes `request: Request`.
    """
    check = require_scope(scope)

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)  # FastAPI reads the endpoint's own signature through the wrapper
        async def checked(request: Request, **values: Any) -> Any:
            await check(request)
            return await endpoint(request=request, **values)

        checked.required_scope = scope  # type: ignore[attr-defined]
        return cast(Endpoint, checked)

    return decorate


def _route_scopes(route: APIRoute) -> tuple[str, ...]:
    own = getattr(route.endpoint, "required_scope", None)
    return tuple(sorted({*_scopes(route.dependant.dependencies), *([own] if own else [])}))


def _scopes(dependencies: Iterable[Dependant]) -> Iterable[str]:
    for dep in dependencies:
        scope = getattr(dep.call, "required_scope", None)
        if scope:
            yield scope
        yield from _scopes(dep.dependencies)


def secured(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer's headers with ours: nosniff and no-referrer always, the HTML policy on HTML."""
    kept = [(n, v) for n, v in headers if n.lower() not in OURS]
    is_html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in kept)
    return kept + ALWAYS + HTML_ONLY if is_html else kept + ALWAYS


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def send_refusal(
    send: Send, status: int, code: str, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(error_body(code, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
