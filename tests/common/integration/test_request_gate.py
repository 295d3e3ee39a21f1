"""Every service refuses an oversized body, and an unknown key, before reading the body (issue 15).

Each test speaks raw HTTP over a socket, so it knows exactly how much of the body it had sent when
the answer came: an answer that arrives before the body was sent proves the body was not read.
"""

from __future__ import annotations

import asyncio

import pytest

from mailintake_common.settings import CommonSettings
from tests.support.stack import ADMIN_KEY, Service

MB = 1024 * 1024
HUGE = 100 * MB
LIMIT = CommonSettings().max_request_bytes  # the services run with the default
# A route per service that reads a body when let through (the classifier has no /v1 route of its own).
BODY_ROUTES = {
    "intake": ("POST", "/v1/emails?mailbox=edc", "message/rfc822"),
    "quarantine": ("POST", "/v1/quarantine/0000/release", "application/json"),
    "classifier": ("POST", "/v1/anything", "application/json"),
    "routing": ("PUT", "/v1/directory/customers", "application/json"),
}


def _head(method: str, path: str, content_type: str, key: str, framing: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nX-API-Key: {key}\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


async def _status(reader: asyncio.StreamReader, timeout_s: float) -> int:
    line = await asyncio.wait_for(reader.readline(), timeout_s)
    assert line.startswith(b"HTTP/1.1 "), line
    return int(line.split()[1])


async def _declared(port: int, head: bytes) -> int:
    """Send only the head of a request that declares a body; the answer must come without it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await _status(reader, 15)
    finally:
        writer.close()


async def _streamed(port: int, head: bytes, total: int) -> tuple[int, int]:
    """Stream a chunked body of `total` bytes until the answer comes; returns (status, bytes sent).

    Sending stops a little past the limit: a server that needed the rest would never answer.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    chunk = b"x" * MB
    answer: asyncio.Task[int] = asyncio.create_task(_status(reader, 120))
    try:
        writer.write(head)
        await asyncio.wait([answer], timeout=0.5)  # a refusal needs no body at all
        while sent < min(total, LIMIT + 8 * MB) and not answer.done():
            writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                break  # the server closed the connection after answering
            sent += len(chunk)
        return await answer, sent
    finally:
        answer.cancel()
        writer.close()


@pytest.mark.parametrize("name", list(BODY_ROUTES))
async def test_a_declared_100_mb_body_is_refused_before_it_is_sent(stack: dict[str, Service], name: str) -> None:
    method, path, content_type = BODY_ROUTES[name]
    head = _head(method, path, content_type, ADMIN_KEY, f"Content-Length: {HUGE}")
    assert await _declared(stack[name].port, head) == 413


@pytest.mark.parametrize("name", list(BODY_ROUTES))
async def test_a_streamed_100_mb_body_is_refused_at_the_limit(stack: dict[str, Service], name: str) -> None:
    method, path, content_type = BODY_ROUTES[name]
    head = _head(method, path, content_type, ADMIN_KEY, "Transfer-Encoding: chunked")
    status, sent = await _streamed(stack[name].port, head, HUGE)
    # A route that reads the body stops at the limit (413); one that does not is refused unread.
    assert status == 413 if name != "classifier" else status in (404, 405, 413)
    assert sent < HUGE  # answered (413) with the rest of the body never sent
    assert await _declared(stack[name].port, b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n") == 200


@pytest.mark.parametrize("name", list(BODY_ROUTES))
async def test_a_bad_key_is_refused_before_the_body_is_read(stack: dict[str, Service], name: str) -> None:
    method, path, content_type = BODY_ROUTES[name]
    under_limit = _head(method, path, content_type, "not-a-key", f"Content-Length: {10 * MB}")
    assert await _declared(stack[name].port, under_limit) == 401
    status, sent = await _streamed(
        stack[name].port, _head(method, path, content_type, "not-a-key", "Transfer-Encoding: chunked"), HUGE
    )
    assert status == 401
    assert sent < 16 * MB  # refused at once, not after reading up to the limit


async def test_a_key_without_the_scope_is_refused_before_the_body_is_read(stack: dict[str, Service]) -> None:
    from tests.support.api import create_key

    reader_key = await create_key(stack["intake"].base_url, ["ops:read"], name="gate reader")
    method, path, content_type = BODY_ROUTES["routing"]
    head = _head(method, path, content_type, reader_key, f"Content-Length: {10 * MB}")
    assert await _declared(stack["routing"].port, head) == 403


async def test_every_response_says_nosniff_and_no_referrer(stack: dict[str, Service]) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        for service in stack.values():
            for response in (
                await http.get(f"{service.base_url}/healthz"),
                await http.get(f"{service.base_url}/v1/documents/x"),
            ):
                assert response.headers["x-content-type-options"] == "nosniff"
                assert response.headers["referrer-policy"] == "no-referrer"
            assert (await http.get(f"{service.base_url}/docs")).status_code == 404  # Swagger runs inline script


async def test_a_streamed_multipart_scan_over_the_limit_is_413_not_malformed(stack: dict[str, Service]) -> None:
    boundary = "b0undary"
    head = _head(
        "POST", "/v1/scans", f"multipart/form-data; boundary={boundary}", ADMIN_KEY, "Transfer-Encoding: chunked"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", stack["intake"].port)
    answer = asyncio.create_task(_status(reader, 120))
    try:
        writer.write(head)
        part = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'.encode()
        writer.write(b"%x\r\n" % len(part) + part + b"\r\n")
        chunk = b"x" * MB
        for _ in range(HUGE // MB):
            if answer.done():
                break
            writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                break
        assert await answer == 413
    finally:
        answer.cancel()
        writer.close()
