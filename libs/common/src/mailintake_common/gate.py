"""The request gate every service stands behind: size, key and scope before a byte of the body.

In this order, for every HTTP request (SPEC 3; issue 15 "Requests and keys"):
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

import json
import logging
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailintake_common.auth import SESSION_COOKIE, authenticate
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


class BodyTooLarge(HTTPException):
    """413 while the body streams in. An HTTPException, because FastAPI passes those through when it
    reads a body for a route (anything else it turns into a 400); errors.py renders it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is over {limit} bytes")


class RequestGate:
    def __init__(self, app: ASGIApp, service_app: FastAPI, routers: Iterable[APIRouter], max_bytes: int) -> None:
        self.app = app
        self.service_app = service_app
        self.max_bytes = max_bytes
        # Each route with the scopes its dependencies require, read once from the routers themselves
        # (FastAPI's own route table is private and changes between versions).
        self.routes = [
            (route, tuple(sorted(set(_scopes(route.dependant.dependencies)))))
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute)
        ]
        self._scopes_by_path: dict[tuple[str, str], tuple[str, ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_refusal(send, 413, "payload_too_large", f"the body is over {self.max_bytes} bytes")
            return
        # SPEC 3: every /v1/ request carries a key; a route's own scopes are checked here too.
        required = self._required_scopes(scope)
        if (required or scope["path"].startswith("/v1/")) and not await self._admit(scope, send, required):
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)

    async def _admit(self, scope: Scope, send: Send, required: tuple[str, ...]) -> bool:
        headers = Headers(scope=scope)
        state = self.service_app.state
        key = headers.get("x-api-key")
        # The dashboard's cookie counts only without a key (auth.authenticate): parsed only then.
        session = None if key else cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
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

    def _required_scopes(self, scope: Scope) -> tuple[str, ...]:
        """The scopes the route this request will reach requires; remembered per method and path."""
        slot = (scope["method"], scope["path"])
        known = self._scopes_by_path.get(slot)
        if known is not None:
            return known
        found: tuple[str, ...] = ()
        for route, scopes in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                found = scopes
                break
        if len(self._scopes_by_path) >= SCOPE_MEMORY:  # paths with ids in them would grow it forever
            self._scopes_by_path.clear()
        self._scopes_by_path[slot] = found
        return found


def _scopes(dependencies: Iterable[Dependant]) -> Iterable[str]:
    for dep in dependencies:
        scope = getattr(dep.call, "required_scope", None)
        if scope:
            yield scope
        yield from _scopes(dep.dependencies)


class SecurityHeaders:
    """nosniff and no-referrer on every response; the HTML policy on every HTML response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", []) if n.lower() not in OURS]
                is_html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in kept)
                message["headers"] = kept + ALWAYS + (HTML_ONLY if is_html else [])
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
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
