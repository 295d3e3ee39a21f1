"""Intake's three POST routes read `mailbox` and `Idempotency-Key` themselves (issue 18).

FastAPI solved the two declared parameters again on every request, at more CPU than the rest of
the route outside the database. The routes now read them from the request, and declare them to
OpenAPI by hand. These tests hold both to what FastAPI did: the same values from the same
request, and the same OpenAPI entries (SPEC 3: OpenAPI at /openapi.json).
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Header, Query, Request

from mailintake_intake.api import _idempotency_header, router

Mailbox = Annotated[str | None, Query()]
Key = Annotated[str | None, Header(alias="Idempotency-Key")]


def _declared_the_fastapi_way() -> FastAPI:
    """The parameters as the routes declared them before: FastAPI solves them and the route reads them."""
    app = FastAPI()

    @app.post("/solved")
    async def solved(request: Request, mailbox: Mailbox = None, key_header: Key = None) -> dict[str, Any]:
        read = {"mailbox": request.query_params.get("mailbox"), "key": _idempotency_header(request)}
        return {"solved": {"mailbox": mailbox, "key": key_header}, "read": read}

    @app.post("/emails")
    async def emails(mailbox: Mailbox = None, key_header: Key = None) -> None: ...

    @app.post("/webforms")
    async def webforms(key_header: Key = None) -> None: ...

    return app


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("mailbox=edc", [("Idempotency-Key", "batch-7/item-3")]),
        ("", []),
        ("mailbox=", [("idempotency-key", "")]),
        ("mailbox=edc&mailbox=secure", [("Idempotency-Key", "first"), ("Idempotency-Key", "second")]),
        ("mailbox=web%20master&other=1", [("IDEMPOTENCY-KEY", "  spaced  ")]),
    ],
)
async def test_the_routes_read_mailbox_and_idempotency_key_as_fastapi_solved_them(
    query: str, headers: list[tuple[str, str]]
) -> None:
    transport = httpx.ASGITransport(app=_declared_the_fastapi_way())
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        answer = (await client.post(f"/solved?{query}", headers=headers, content=b"x")).json()
    assert answer["read"] == answer["solved"]


def _operation(app: FastAPI, path: str) -> dict[str, Any]:
    return app.openapi()["paths"][path]["post"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("channel", ["emails", "webforms", "scans"])
def test_openapi_shows_the_parameters_and_answers_fastapi_would(channel: str) -> None:
    ours = FastAPI()
    ours.include_router(router)
    reference = _declared_the_fastapi_way()
    operation = _operation(ours, f"/v1/{channel}")
    expected = _operation(reference, "/emails" if channel == "emails" else "/webforms")
    assert operation["parameters"] == expected["parameters"]
    assert operation["responses"]["422"] == expected["responses"]["422"]
