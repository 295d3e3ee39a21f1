"""The web frame's own CPU per request, in-process: no server, socket, database or broker.

Each request is driven through the whole ASGI stack of a real service app (FastAPI's own
middleware, ours: metrics and access log, security headers, the request gate; routing,
dependencies, the route, the JSON answer; intake's e-mail and web-form routes are called by
our frame directly, past FastAPI's router, as in the service: direct.py), with the access log
formatted as in production and written to /dev/null, and the key already in the key cache. The
baseline, in the same run, is a bare Starlette app answering the same JSON: what any ASGI
framework costs per request.

`python -m bench.web_frame [--profile]` prints the figures (and with --profile the top of a
cProfile of the intake requests); bench_intake prints them beside the server's figures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from tests.support.asgi import http_scope
from tests.support.stack import ADMIN_KEY

REQUESTS = int(os.environ.get("BENCH_FRAME_REQUESTS", "4000"))
EMAIL = b"From: someone@example.org\r\nTo: edc@example.gov\r\nSubject: hello\r\n\r\n" + b"Please update. " * 300
WEBFORM = json.dumps(
    {
        "form_type": "contact_us",
        "submitted_at": "2026-11-30T09:15:00+10:00",
        "fields": {"message": "Please call me back about my assessment. " * 100, "phone": "0400 000 000"},
    }
).encode()


async def _drive(
    app: ASGIApp, make_scope: Callable[[], dict[str, Any]], body: bytes, count: int, expect: int = 200
) -> float:
    """CPU seconds for `count` requests, one after another; asserts each got the `expect`ed status."""

    async def once() -> int:
        sent = False
        status = 0

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)  # a real server waits here for a disconnect
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(make_scope(), receive, send)
        return status

    for _ in range(50):  # warm caches
        await once()
    started = time.process_time()
    for _ in range(count):
        status = await once()
        assert status == expect, status
    return time.process_time() - started


def _intake_app() -> ASGIApp:
    from mailintake_common.auth import SCOPES, KeyCache, Principal, hash_key
    from mailintake_intake.app import create_app
    from mailintake_intake.settings import IntakeSettings

    app = create_app(IntakeSettings())
    cache = KeyCache(ttl_s=1e9)  # the key is looked up once per TTL in a service: here, never
    cache._entries["k:" + hash_key(ADMIN_KEY)] = (time.monotonic(), Principal("bench", "bench", frozenset(SCOPES)))
    app.state.key_cache = cache
    app.state.engine = None
    return app


def _store_nothing() -> None:
    """The routes' database work (`store_submission`) replaced by an answer, so what is left is
    everything intake does for an accepted document outside PostgreSQL."""
    from mailintake_intake import api
    from mailintake_intake.adapters.submissions import Stored, Submission

    async def stored(_engine: object, _submission: Submission, trace_id: str | None = None) -> Stored:
        return Stored(uuid.uuid4().hex, True, "received")

    api.store_submission = stored  # type: ignore[assignment]


def _bare_app() -> ASGIApp:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "bare"})

    return Starlette(routes=[Route("/healthz", healthz)])


def _quiet_production_logging() -> None:
    from mailintake_common.observability import configure_logging

    configure_logging("intake", "INFO", json_logs=True)
    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    logging.getLogger().handlers[0].setStream(devnull)  # type: ignore[attr-defined]


async def _measure(count: int) -> dict[str, float]:
    _quiet_production_logging()
    app, bare = _intake_app(), _bare_app()
    key = [(b"x-api-key", ADMIN_KEY.encode())]
    email_headers = [*key, (b"content-type", b"message/rfc822"), (b"content-length", str(len(EMAIL)).encode())]
    figures = {
        "bare /healthz": await _drive(bare, lambda: http_scope("GET", "/healthz", b"", []), b"", count),
        "/healthz": await _drive(app, lambda: http_scope("GET", "/healthz", b"", []), b"", count),
        # Through the gate (key from the cache), dependencies and the route, to a 422 from the
        # domain before any database work: the frame's share of a POST.
        "POST /v1/emails (422)": await _drive(
            app, lambda: http_scope("POST", "/v1/emails", b"mailbox=nowhere", email_headers), EMAIL, count, 422
        ),
    }
    # The whole route to its 202, with the database work left out (a stub answers for it).
    _store_nothing()
    form_headers = [*key, (b"content-type", b"application/json"), (b"content-length", str(len(WEBFORM)).encode())]
    figures["POST /v1/emails (202, no db)"] = await _drive(
        app, lambda: http_scope("POST", "/v1/emails", b"mailbox=edc", email_headers), EMAIL, count, 202
    )
    figures["POST /v1/webforms (202, no db)"] = await _drive(
        app, lambda: http_scope("POST", "/v1/webforms", b"", form_headers), WEBFORM, count, 202
    )
    return {name: seconds * 1e6 / count for name, seconds in figures.items()}


def frame_cost(count: int = REQUESTS) -> dict[str, float]:
    """CPU microseconds per request through each app, in this process's event loop policy."""
    return asyncio.run(_measure(count))


def main() -> None:
    if "--profile" in sys.argv:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(frame_cost, REQUESTS)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        return
    for name, micros in frame_cost().items():
        print(f"  {name:28} {micros:7.0f} us CPU/request")


if __name__ == "__main__":
    main()
