"""Faults a test makes on purpose through the real components: a document the classifier gives
up on (its cleared part is not in the blob store), and the cause fixed afterwards."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from mailintake_common import details
from mailintake_common.db import make_engine
from mailintake_common.events import TOPIC_SCREENED, BlobRef, ClearedPart, DocumentScreenedV1, new_event
from mailintake_common.outbox import encode
from mailintake_common.settings import CommonSettings
from tests.support.api import client, wait_for_status
from tests.support.stack import Infra

LETTER = (
    "Hello,\n\nI moved house last month and my payments letters are still going to the old flat. "
    "My reference is 402 718 293R. Could you please change my address to 14 Wattle Crescent, "
    "Belconnen. Thanks for sorting this out.\n\nRobin"
)


async def sql(infra: Infra, statement: str, **params: Any) -> None:
    engine = make_engine(CommonSettings(database_url=infra.database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


async def publish_screened(infra: Infra, document_id: str, screened: DocumentScreenedV1) -> None:
    """Announce `screened` as quarantine does (issue 15): its details kept in PostgreSQL, the
    thin event on the topic."""
    thin, kept = details.split_screened(screened)
    engine = make_engine(CommonSettings(database_url=infra.database_url))
    try:
        async with engine.begin() as conn:
            await details.keep(conn, document_id, kept)
    finally:
        await engine.dispose()
    event = new_event(document_id, thin)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        headers = [("event_type", event.event_type.encode()), ("trace_id", uuid.uuid4().hex.encode())]
        await producer.send_and_wait(TOPIC_SCREENED, encode(event), key=document_id.encode(), headers=headers)
    finally:
        await producer.stop()


async def fail_at_the_classifier(intake_url: str, infra: Infra, document_id: str) -> bytes:
    """A routed document is screened again with a part whose content is not in the blob store:
    the classifier gives up on it (failed, dead-lettered). Returns the missing content."""
    content = f"{LETTER}\n\nSent {uuid.uuid4().hex}".encode()
    blob = BlobRef(sha256=hashlib.sha256(content).hexdigest(), size=len(content), media_type="text/plain")
    screened = DocumentScreenedV1(
        channel="email",
        received_at=datetime.now(UTC),
        mailbox="edc",
        verdict="clear",
        cleared_parts=[ClearedPart(part_id="p1", kind="text_body", media_type="text/plain", blob=blob)],
    )
    await publish_screened(infra, document_id, screened)
    async with client(intake_url) as intake:
        await wait_for_status(intake, document_id, {"failed"}, 90)
    return content


async def put_blob(infra: Infra, content: bytes) -> None:
    """The cause fixed: the missing content is in the blob store."""
    await sql(
        infra,
        "INSERT INTO blobs (sha256, size, media_type, content) VALUES (:sha, :size, 'text/plain', :content)",
        sha=hashlib.sha256(content).hexdigest(),
        size=len(content),
        content=content,
    )
