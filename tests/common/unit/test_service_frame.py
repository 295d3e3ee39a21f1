"""The service frame (frame.py): one layer for trace, gate, security headers, metrics and access line.

Each request is driven through a real service app in-process (no server): the refusals, headers,
trace ids, access lines and metrics every service's requests get, and the order the gate checks
in (issue 15: size, then key and scope, before a byte of the body; issue 16: the access line and
trace ids; issue 18: one layer instead of three).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from prometheus_client import REGISTRY
from starlette.types import Message

from mailintake_common.auth import SCOPES, KeyCache, Principal, hash_key
from mailintake_common.errors import install_error_handlers
from mailintake_common.gate import gated
from mailintake_common.web import create_service_app
from mailintake_intake.settings import IntakeSettings
from tests.support.asgi import http_scope

KEY = "a-key-the-cache-already-holds"
READER = "a-key-that-may-only-read"
UNKNOWN = "not-a-key"
LIMIT = 4096


def _app() -> FastAPI:
    pages = APIRouter()

    @pages.get("/page")
    async def page() -> HTMLResponse:
        # A route's own value for one of our headers is replaced, not doubled.
        return HTMLResponse("<p>queues</p>", headers={"X-Content-Type-Options": "sniff-away"})

    @pages.get("/broken")
    async def broken() -> None:
        raise RuntimeError("Jo Citizen, CRN 583920174M")  # a bug whose message carries personal details

    from mailintake_intake.api import router

    app = create_service_app(
        name="frametest", settings=IntakeSettings(max_request_bytes=LIMIT), routers=[router, pages]
    )
    cache = KeyCache(ttl_s=1e9)
    now = time.monotonic()
    cache._entries["k:" + hash_key(KEY)] = (now, Principal("k1", "scanner", frozenset(SCOPES)))
    cache._entries["k:" + hash_key(READER)] = (now, Principal("k2", "reader", frozenset({"ops:read"})))
    cache._entries["k:" + hash_key(UNKNOWN)] = (now, None)  # looked up before: no such key
    app.state.key_cache = cache
    app.state.engine = None  # nothing here may reach the database
    return app


APP = _app()


class Exchange:
    def __init__(self) -> None:
        self.received = 0  # body messages the app asked for
        self.messages: list[Message] = []
        self.logged_before_last_byte: bool | None = None

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, list[bytes]]:
        found: dict[bytes, list[bytes]] = {}
        for name, value in self.messages[0]["headers"]:
            found.setdefault(name, []).append(value)
        return found


async def _call(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes] = [b""],  # noqa: B006 - never mutated
    query: bytes = b"",
    caplog: pytest.LogCaptureFixture | None = None,
) -> Exchange:
    exchange = Exchange()
    scope = http_scope(method, path, query, headers)
    pending = list(chunks)

    async def receive() -> Message:
        if not pending:
            await asyncio.sleep(3600)  # a server waits here for a disconnect
        exchange.received += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body") and caplog is not None:
            exchange.logged_before_last_byte = any(r.name == "mailintake.access" for r in caplog.records)
        exchange.messages.append(message)

    await APP(scope, receive, send)
    return exchange


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="mailintake.access")
    yield caplog


def _lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "mailintake.access"]


def _count(route: str, status: str) -> float:
    labels = {"service": "frametest", "method": "POST", "route": route, "status": status}
    return REGISTRY.get_sample_value("mailintake_http_requests_total", labels) or 0.0


async def test_a_declared_body_over_the_limit_is_413_before_the_key_is_asked_for(
    access: pytest.LogCaptureFixture,
) -> None:
    before = _count("/v1/emails", "413")
    answer = await _call("POST", "/v1/emails", [(b"content-length", str(LIMIT + 1).encode())], [b"x" * (LIMIT + 1)])
    assert answer.status == 413  # no key given: the size is checked first
    assert answer.received == 0  # not a byte of the body was read
    assert answer.headers[b"connection"] == [b"close"]
    assert _count("/v1/emails", "413") == before + 1
    line = _lines(access)[-1]
    assert (line.method, line.route, line.status_code) == ("POST", "/v1/emails", 413)  # type: ignore[attr-defined]


async def test_an_unknown_key_is_401_and_a_key_without_the_scope_403_before_the_body() -> None:
    body = [b"From: a parent <p@mail.example>\r\n\r\nI have moved.\r\n"]
    unknown = await _call("POST", "/v1/emails", [(b"x-api-key", b"not-a-key")], body, b"mailbox=edc")
    reader = await _call("POST", "/v1/emails", [(b"x-api-key", READER.encode())], body, b"mailbox=edc")
    missing = await _call("POST", "/v1/emails", [], body, b"mailbox=edc")
    assert (unknown.status, reader.status, missing.status) == (401, 403, 401)
    assert unknown.received == reader.received == missing.received == 0


async def test_a_streamed_body_is_refused_at_the_chunk_that_crosses_the_limit() -> None:
    chunks = [b"From: payroll@employer.example\r\n\r\n", b"x" * LIMIT, b"y" * LIMIT, b"z" * LIMIT]
    answer = await _call("POST", "/v1/emails", [(b"x-api-key", KEY.encode())], chunks, b"mailbox=edc")
    assert answer.status == 413
    assert answer.received == 2  # the second chunk crossed the limit; the rest was never asked for


async def test_refusals_and_answers_carry_our_headers_and_the_trace(access: pytest.LogCaptureFixture) -> None:
    trace_id, caller = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traced = [(b"traceparent", f"00-{trace_id}-{caller}-01".encode())]
    for answer in (
        await _call("GET", "/healthz", traced),
        await _call("POST", "/v1/emails", traced),  # 401 from the gate
        await _call("GET", "/nowhere", traced),  # 404 from the router
    ):
        assert answer.headers[b"x-content-type-options"] == [b"nosniff"]
        assert answer.headers[b"referrer-policy"] == [b"no-referrer"]
        assert b"content-security-policy" not in answer.headers  # JSON, not HTML
        assert answer.headers[b"x-trace-id"] == [trace_id.encode()]
        parent = answer.headers[b"traceparent"][0].decode().split("-")
        assert parent[1] == trace_id and parent[2] != caller  # this request's own span of the caller's trace
    assert [line.status_code for line in _lines(access)] == [401, 404]  # type: ignore[attr-defined]  # no probe line


async def test_an_unexpected_error_is_a_500_with_our_headers_and_the_trace_and_nothing_of_its_message(
    access: pytest.LogCaptureFixture,
) -> None:
    """Issue 15: every answer carries nosniff and no-referrer, a server error too (Starlette answers
    an unhandled exception outside the frame, so it had neither header nor the trace id)."""
    answer = await _call("GET", "/broken", [(b"x-trace-id", b"broken-1")])
    assert answer.status == 500
    assert answer.headers[b"x-content-type-options"] == [b"nosniff"]
    assert answer.headers[b"referrer-policy"] == [b"no-referrer"]
    assert answer.headers[b"x-trace-id"] == [b"broken-1"]
    body = b"".join(m.get("body", b"") for m in answer.messages[1:])
    assert json.loads(body) == {"error": "internal", "detail": "unexpected error"}
    assert [(line.route, line.status_code) for line in _lines(access)] == [("/broken", 500)]  # type: ignore[attr-defined]


async def test_an_html_answer_gets_the_page_policy_and_ours_replace_a_routes_own() -> None:
    answer = await _call("GET", "/page", [(b"x-trace-id", b"legacy-7")])
    assert answer.status == 200
    assert answer.headers[b"x-content-type-options"] == [b"nosniff"]
    assert answer.headers[b"content-security-policy"][0].startswith(b"default-src 'none'")
    assert answer.headers[b"x-frame-options"] == [b"DENY"]
    assert answer.headers[b"x-trace-id"] == [b"legacy-7"]  # a legacy id is kept as given


async def test_the_access_line_is_written_before_the_last_byte_goes_out(access: pytest.LogCaptureFixture) -> None:
    answer = await _call("GET", "/v1/documents/some-id", [(b"x-api-key", b"not-a-key")], caplog=access)
    assert answer.status == 401
    assert answer.logged_before_last_byte is True
    assert _lines(access)[-1].route == "/v1/documents/{document_id}"  # type: ignore[attr-defined]  # never the raw path


async def test_an_email_is_accepted_through_the_frame_with_the_principal_the_gate_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mailintake_intake import api
    from mailintake_intake.adapters.submissions import Stored, Submission

    seen: list[Submission] = []

    async def store(_engine: object, submission: Submission, trace_id: str | None = None) -> Stored:
        seen.append(submission)
        return Stored("d" * 32, True, "received")

    monkeypatch.setattr(api, "store_submission", store)
    letter = b"From: a parent <p@mail.example>\r\nMessage-ID: <moved-1@mail.example>\r\n\r\nI have moved.\r\n"
    answer = await _call(
        "POST", "/v1/emails", [(b"x-api-key", KEY.encode())], [letter[:20], letter[20:]], b"mailbox=edc"
    )
    assert answer.status == 202
    assert seen[0].idempotency_key == "<moved-1@mail.example>" and seen[0].mailbox == "edc"


async def test_a_gated_route_is_refused_by_the_gate_and_checks_its_scope_itself_without_it() -> None:
    """`gated` declares a hot route's scope without a FastAPI dependency (issue 18): the gate reads
    it and refuses before the body; mounted in an app without the gate, the route refuses itself."""
    router = APIRouter(prefix="/v1")

    @router.post("/letters")
    @gated("intake:write")
    async def letters(request: Request) -> dict[str, int]:
        return {"read": len(await request.body())}

    bare = FastAPI()  # no frame, no gate
    install_error_handlers(bare)
    bare.include_router(router)
    bare.state.key_cache, bare.state.engine = APP.state.key_cache, None
    transport = httpx.ASGITransport(app=bare)
    async with httpx.AsyncClient(transport=transport, base_url="http://bare") as client:
        assert (await client.post("/v1/letters", content=b"hello")).status_code == 401
        assert (await client.post("/v1/letters", content=b"hello", headers={"x-api-key": READER})).status_code == 403
        allowed = await client.post("/v1/letters", content=b"hello", headers={"x-api-key": KEY})
        assert (allowed.status_code, allowed.json()) == (200, {"read": 5})

    framed = create_service_app(name="frametest", settings=IntakeSettings(), routers=[router])
    framed.state.key_cache, framed.state.engine = APP.state.key_cache, None
    transport = httpx.ASGITransport(app=framed)
    async with httpx.AsyncClient(transport=transport, base_url="http://framed") as client:
        refused = await client.post("/v1/letters", content=b"hello", headers={"x-api-key": READER})
        assert (refused.status_code, refused.headers["connection"]) == (403, "close")  # the gate's refusal


async def test_a_scrape_reads_memory_only() -> None:
    """Issue 16: `/metrics` stays cheap. This app has no database (`engine` is None), yet a
    scrape answers with the database gauges: the periodic refresh (gauges.py) fills them."""
    answer = await _call("GET", "/metrics", [])
    assert answer.status == 200
    body = b"".join(m.get("body", b"") for m in answer.messages[1:]).decode()
    for gauge in ("mailintake_outbox_oldest_unpublished_seconds", "mailintake_outbox_unpublished"):
        assert f"\n{gauge} " in body, gauge
