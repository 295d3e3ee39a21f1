"""Intake's e-mail and web-form routes are called by the service frame past FastAPI's router and
request handler (issue 18, direct.py). The answers must be FastAPI's own: every request here goes
through the same app twice, with the direct calls and without them, and gets the same status,
body (the new document's id aside), headers (the trace's aside), access line and submission.

The database work is a stand-in here (what it was given is compared, and its failures are raised
on purpose); tests/intake/integration/ drive the same routes on a real intake, PostgreSQL and broker.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from mailintake_common.auth import SCOPES, KeyCache, Principal, hash_key
from mailintake_common.frame import ServiceFrame
from mailintake_intake import api
from mailintake_intake.adapters.submissions import Stored, Submission
from mailintake_intake.app import create_app
from mailintake_intake.settings import IntakeSettings
from tests.factories.documents import email_bytes, page_image, webform
from tests.support.asgi import http_scope

WRITER = "mik_" + "w" * 8 + uuid.uuid4().hex + uuid.uuid4().hex
READER = "mik_" + "r" * 8 + uuid.uuid4().hex + uuid.uuid4().hex
LIMIT = 64 * 1024
EMAIL = {"Content-Type": "message/rfc822"}
JSON = {"Content-Type": "application/json"}


def _app(direct: bool) -> FastAPI:
    app = create_app(IntakeSettings(max_request_bytes=LIMIT))
    for layer in app.user_middleware:
        if layer.cls is ServiceFrame:
            layer.kwargs["direct"] = direct
    cache = KeyCache(ttl_s=1e9)
    now = time.monotonic()
    cache._entries["k:" + hash_key(WRITER)] = (now, Principal("w", "writer", frozenset(SCOPES)))
    cache._entries["k:" + hash_key(READER)] = (now, Principal("r", "reader", frozenset({"ops:read"})))
    app.state.key_cache = cache
    app.state.engine = None  # the stand-in store below never uses it
    return app


class Store:
    """Stands in for the database work: records each submission, or fails as told."""

    def __init__(self) -> None:
        self.given: list[dict[str, Any]] = []
        self.failure: Exception | None = None

    async def __call__(self, _engine: object, sub: Submission, trace_id: str | None = None) -> Stored:
        if self.failure is not None:
            raise self.failure
        parts = [
            {**asdict(p), "content": p.content if isinstance(p.content, bytes) else p.content.read()} for p in sub.parts
        ]
        self.given.append({**asdict(sub), "parts": parts, "received_at": None})
        return Stored(uuid.uuid4().hex, created=True, status="received")


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    stand_in = Store()
    monkeypatch.setattr(api, "store_submission", stand_in)
    return stand_in


@pytest.fixture
def fastapi_handled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths FastAPI's own route handling saw."""
    seen: list[str] = []
    handle = APIRoute.handle

    async def counted(route: APIRoute, scope: Any, receive: Any, send: Any) -> None:
        seen.append(route.path)
        await handle(route, scope, receive, send)

    monkeypatch.setattr(APIRoute, "handle", counted)
    return seen


@pytest.fixture
async def clients() -> AsyncIterator[dict[bool, httpx.AsyncClient]]:
    made = {}
    for direct in (True, False):
        transport = httpx.ASGITransport(app=_app(direct), raise_app_exceptions=False)
        made[direct] = httpx.AsyncClient(transport=transport, base_url="http://intake")
    yield made
    for client in made.values():
        await client.aclose()


async def _chunks(size: int) -> AsyncIterator[bytes]:
    """A body sent chunked, without a Content-Length: the gate counts it as it streams in."""
    yield b"From: a@example.org\r\nSubject: long\r\n\r\n"
    for _ in range(size // 4096):
        yield b"x" * 4096


def _form(**changes: Any) -> dict[str, Any]:
    return {**webform(), **changes}


# (name, method's keyword arguments): each posted to both apps with the writer's key unless it names one
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("email accepted", "/v1/emails?mailbox=edc", {"content": email_bytes(), "headers": EMAIL}),
    (
        "email keyed",
        "/v1/emails?mailbox=secure",
        {"content": email_bytes(), "headers": {**EMAIL, "Idempotency-Key": "k-1"}},
    ),
    ("email without mailbox", "/v1/emails", {"content": email_bytes(), "headers": EMAIL}),
    ("email to an unknown mailbox", "/v1/emails?mailbox=nowhere", {"content": email_bytes(), "headers": EMAIL}),
    ("email empty", "/v1/emails?mailbox=edc", {"content": b"", "headers": EMAIL}),
    ("email without headers", "/v1/emails?mailbox=edc", {"content": b"just words\n", "headers": EMAIL}),
    (
        "email key too long",
        "/v1/emails?mailbox=edc",
        {"content": email_bytes(), "headers": {**EMAIL, "Idempotency-Key": "k" * 256}},
    ),
    ("email declared over the limit", "/v1/emails?mailbox=edc", {"content": b"x" * (LIMIT + 1), "headers": EMAIL}),
    ("email streamed over the limit", "/v1/emails?mailbox=edc", {"stream": LIMIT + 8192, "headers": EMAIL}),
    ("email without a key", "/v1/emails?mailbox=edc", {"content": email_bytes(), "headers": EMAIL, "key": None}),
    (
        "email with a key lacking the scope",
        "/v1/emails?mailbox=edc",
        {"content": email_bytes(), "headers": EMAIL, "key": READER},
    ),
    (
        "email with an unknown key",
        "/v1/emails?mailbox=edc",
        {"content": email_bytes(), "headers": EMAIL, "key": "mik_unknown"},
    ),
    ("webform accepted", "/v1/webforms", {"json": _form()}),
    ("webform with an attachment", "/v1/webforms", {"json": webform("complaint_feedback", [("a.png", page_image())])}),
    ("webform keyed", "/v1/webforms", {"json": _form(), "headers": {"Idempotency-Key": "form-1"}}),
    (
        "webform json with charset",
        "/v1/webforms",
        {"content": json.dumps(_form()), "headers": {"Content-Type": "application/json; charset=utf-8"}},
    ),
    (
        "webform json in capitals",
        "/v1/webforms",
        {"content": json.dumps(_form()), "headers": {"Content-Type": "Application/JSON"}},
    ),
    (
        "webform as +json",
        "/v1/webforms",
        {"content": json.dumps(_form()), "headers": {"Content-Type": "application/ld+json"}},
    ),
    ("webform as text", "/v1/webforms", {"content": json.dumps(_form()), "headers": {"Content-Type": "text/plain"}}),
    (
        "webform without a type",
        "/v1/webforms",
        {"content": json.dumps(_form()).encode(), "headers": {"Content-Type": ""}},
    ),
    ("webform invalid json", "/v1/webforms", {"content": b'{"form_type": ', "headers": JSON}),
    ("webform not utf-8", "/v1/webforms", {"content": b'{"form_type": "\xff"}', "headers": JSON}),
    ("webform empty", "/v1/webforms", {"content": b"", "headers": JSON}),
    ("webform a list", "/v1/webforms", {"json": [_form()]}),
    ("webform nested past the parser's depth", "/v1/webforms", {"content": b"[" * 20_000, "headers": JSON}),
    ("webform missing fields", "/v1/webforms", {"json": {"form_type": "contact_us"}}),
    ("webform unknown type", "/v1/webforms", {"json": _form(form_type="no_such_form")}),
    ("webform extra field", "/v1/webforms", {"json": _form(extra=1)}),
    ("webform field not text", "/v1/webforms", {"json": _form(fields={"a": 1})}),
    ("webform bad date", "/v1/webforms", {"json": _form(submitted_at="yesterday")}),
    ("webform too many fields", "/v1/webforms", {"json": _form(fields={f"f{i}": "x" for i in range(201)})}),
    (
        "webform bad base64",
        "/v1/webforms",
        {"json": _form(attachments=[{"filename": "a.pdf", "content_base64": "%%"}])},
    ),
    ("webform declared over the limit", "/v1/webforms", {"content": b"{" * (LIMIT + 1), "headers": JSON}),
    ("webform without a key", "/v1/webforms", {"json": _form(), "key": None}),
    ("webform streamed over the limit", "/v1/webforms", {"stream": LIMIT + 8192, "headers": JSON}),
]


async def _answer(client: httpx.AsyncClient, path: str, arguments: dict[str, Any]) -> dict[str, Any]:
    arguments = dict(arguments)
    key = arguments.pop("key", WRITER)
    headers = {**arguments.pop("headers", {}), **({"X-API-Key": key} if key else {})}
    if "stream" in arguments:
        arguments["content"] = _chunks(arguments.pop("stream"))
    response = await client.post(path, headers=headers, **arguments)
    body: Any = response.json()
    if isinstance(body, dict) and "document_id" in body:
        body = {**body, "document_id": "-", "status_url": "-"}
    ignored = {"x-trace-id", "traceparent"}
    return {
        "status": response.status_code,
        "body": body,
        "headers": [h for h in response.headers.items() if h[0] not in ignored],
    }


@pytest.mark.parametrize(("name", "path", "arguments"), REQUESTS, ids=[r[0] for r in REQUESTS])
async def test_a_direct_call_answers_as_fastapi_does(
    clients: dict[bool, httpx.AsyncClient],
    store: Store,
    caplog: pytest.LogCaptureFixture,
    name: str,
    path: str,
    arguments: dict[str, Any],
) -> None:
    answers, given, lines = {}, {}, {}
    for direct, client in clients.items():
        store.given.clear()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="mailintake.access"):
            answers[direct] = await _answer(client, path, arguments)
        given[direct] = list(store.given)
        lines[direct] = [
            (r.__dict__["route"], r.__dict__["status_code"]) for r in caplog.records if r.name == "mailintake.access"
        ]
    assert answers[True] == answers[False]
    assert given[True] == given[False]
    assert lines[True] == lines[False] == [(path.split("?")[0], answers[True]["status"])]


async def test_plain_submissions_skip_fastapi_and_the_rest_go_its_way(
    clients: dict[bool, httpx.AsyncClient], store: Store, fastapi_handled: list[str]
) -> None:
    direct = clients[True]
    assert (await _answer(direct, "/v1/emails?mailbox=edc", {"content": email_bytes(), "headers": EMAIL}))[
        "status"
    ] == 202
    assert (await _answer(direct, "/v1/webforms", {"json": _form()}))["status"] == 202
    assert (await _answer(direct, "/v1/emails", {"content": email_bytes(), "headers": EMAIL}))["status"] == 422
    assert fastapi_handled == []  # an ApiError from the route itself is answered on the direct path too
    assert (await _answer(direct, "/v1/webforms", {"json": _form(extra=1)}))["status"] == 422
    assert (await _answer(direct, "/v1/webforms", {"content": b"{", "headers": JSON}))["status"] == 400
    assert (await _answer(direct, "/healthz", {}))["status"] in (405, 200)
    assert fastapi_handled == ["/v1/webforms", "/v1/webforms", "/healthz"]
    await _answer(clients[False], "/v1/emails?mailbox=edc", {"content": email_bytes(), "headers": EMAIL})
    assert fastapi_handled[-1] == "/v1/emails"


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        OSError("connection refused"),
        RuntimeError("a bug"),
    ],
    ids=["dropped connection", "database down", "unexpected"],
)
async def test_a_failing_store_is_answered_as_before(
    clients: dict[bool, httpx.AsyncClient], store: Store, failure: Exception
) -> None:
    store.failure = failure
    for path, arguments in (
        ("/v1/emails?mailbox=edc", {"content": email_bytes(), "headers": EMAIL}),
        ("/v1/webforms", {"json": _form()}),
    ):
        answers = {direct: await _answer(client, path, arguments) for direct, client in clients.items()}
        assert answers[True] == answers[False]
        assert answers[True]["status"] == (500 if isinstance(failure, RuntimeError) else 503)


async def _raw_answer(app: FastAPI, path: str, headers: list[tuple[bytes, bytes]], messages: list[Any]) -> list[Any]:
    """What the app sends for a request whose client sends `messages` and then waits (ASGI, no client library)."""
    sent: list[Any] = []
    pending = list(messages)

    async def receive() -> Any:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {
                **message,
                "headers": [h for h in message["headers"] if h[0] not in (b"x-trace-id", b"traceparent")],
            }
        sent.append(message)

    scope = http_scope("POST", path, b"mailbox=edc", [(b"x-api-key", WRITER.encode()), *headers])
    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("path", "content_type"), [("/v1/webforms", b"application/json"), ("/v1/emails", b"message/rfc822")]
)
async def test_a_client_gone_mid_body_is_answered_as_before(store: Store, path: str, content_type: bytes) -> None:
    headers = [(b"content-type", content_type)]
    half = [{"type": "http.request", "body": b'{"form_type": "contact', "more_body": True}, {"type": "http.disconnect"}]
    answers = {direct: await _raw_answer(_app(direct), path, headers, half) for direct in (True, False)}
    assert answers[True] == answers[False]
    assert answers[True][0]["status"] == 400
    assert store.given == []
