"""The pipeline bench's load generator (bench/load.py): the documents it sends are the ones the
factories make, intake accepts them from it, and a connection the server closes is replaced."""

from __future__ import annotations

import asyncio
import json
import re
from email import message_from_bytes

from bench.load import Documents, LeanClient
from tests.factories.documents import email_bytes, webform
from tests.support.stack import ADMIN_KEY, Service


def letter(i: int) -> str:
    return f"\n\nLetter {(i // 2) % 3}: please update my address, my case is about my daughter.\n" * 20


def test_each_document_is_what_the_factories_make_with_its_own_unique_line_and_message_id() -> None:
    documents = Documents(letter, 3)
    seen_lines: set[str] = set()
    for i in range(8):
        path, body, content_type = documents(i)
        if i % 2:
            assert (path, content_type) == ("/v1/webforms", "application/json")
            message = json.loads(body)["fields"]["message"]
            unique = message[:32]
            assert body == json.dumps({**webform(), "fields": {"message": unique + letter(i)}}).encode()
        else:
            assert (path, content_type) == ("/v1/emails?mailbox=edc", "message/rfc822")
            parsed = message_from_bytes(body)
            message_id = str(parsed["Message-ID"])
            unique = str(parsed.get_payload())[:32]
            assert body == email_bytes(body=unique + letter(i), message_id=message_id)
            assert re.fullmatch(r"<[0-9a-f]{32}@example.org>", message_id)
        assert re.fullmatch(r"[0-9a-f]{32}", unique) and unique not in seen_lines
        seen_lines.add(unique)


async def test_intake_accepts_the_generators_posts(intake: Service) -> None:
    documents = Documents(letter, 3)
    client = LeanClient(intake.base_url, {"X-API-Key": ADMIN_KEY})
    try:
        answers = [await client.post(*documents(i)) for i in range(4)]
    finally:
        await client.aclose()
    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    assert len({a.json()["document_id"] for a in answers}) == 4


async def test_connections_the_server_closes_are_replaced() -> None:
    opened = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal opened
        opened += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")  # then closes without saying so
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = LeanClient(f"http://127.0.0.1:{port}", {})
    try:
        statuses = []
        for _ in range(3):
            statuses.append((await client.post("/x", b"{}", "application/json")).status_code)
            await asyncio.sleep(0.05)  # the close reaches the client
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert statuses == [202, 202, 202] and opened == 3
    opened = 0
    client = LeanClient(f"http://127.0.0.1:{port}", {})
    server = await asyncio.start_server(answer, "127.0.0.1", port)
    try:  # two requests at once leave two connections; both closed, the next post still goes through
        both = await asyncio.gather(*(client.post("/x", b"{}", "application/json") for _ in range(2)))
        await asyncio.sleep(0.05)
        last = await client.post("/x", b"{}", "application/json")
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert [a.status_code for a in (*both, last)] == [202, 202, 202] and opened == 3
