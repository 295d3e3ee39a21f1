"""Truncated uploads, slow clients and bursts get clear answers, never a crash or a loss."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.tables import idempotency_keys
from tests.factories.documents import email_bytes, webform
from tests.support.api import client
from tests.support.stack import ADMIN_KEY, Infra, Service


async def _stored(infra: Infra, key: str) -> bool:
    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key))).first()
        return row is not None
    finally:
        await engine.dispose()


async def _raw_request(port: int, head: str, body_parts: list[bytes], pause_s: float = 0.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    for part in body_parts:
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(pause_s)
    answer = await asyncio.wait_for(reader.read(65536), 30) if not writer.is_closing() else b""
    writer.close()
    return answer


def _head(path: str, length: int, key: str, content_type: str = "message/rfc822") -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {ADMIN_KEY}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    )


async def test_truncated_upload_stores_nothing_and_the_service_carries_on(intake: Service, infra: Infra) -> None:
    raw = email_bytes()
    key = f"truncated-{uuid.uuid4()}"
    _, writer = await asyncio.open_connection("127.0.0.1", intake.port)
    writer.write(_head("/v1/emails?mailbox=edc", len(raw), key).encode() + raw[: len(raw) // 2])
    await writer.drain()
    writer.close()  # the client goes away mid-body
    await asyncio.sleep(0.5)
    assert not await _stored(infra, key)
    assert "ClientDisconnect" not in intake.log_path.read_text()  # handled, not an unexpected error
    async with client(intake.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200
        response = await http.post("/v1/emails?mailbox=edc", content=raw, headers={"Idempotency-Key": key})
        assert response.status_code == 202  # the retry is a first submission


async def test_slow_client_is_served(intake: Service, infra: Infra) -> None:
    raw = email_bytes()
    key = f"slow-{uuid.uuid4()}"
    chunks = [raw[i : i + 200] for i in range(0, len(raw), 200)]
    answer = await _raw_request(intake.port, _head("/v1/emails?mailbox=edc", len(raw), key), chunks, pause_s=0.3)
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
    assert await _stored(infra, key)


async def test_a_burst_of_concurrent_submissions_is_all_accepted(intake: Service) -> None:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=intake.base_url, headers={"X-API-Key": ADMIN_KEY}, limits=limits) as http:
        responses = await asyncio.gather(*(http.post("/v1/webforms", json=webform()) for _ in range(60)))
    assert [r.status_code for r in responses] == [202] * 60
    assert len({r.json()["document_id"] for r in responses}) == 60
