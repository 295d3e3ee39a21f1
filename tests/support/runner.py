"""A document row and its `received` event: what the consumer runner's tests feed it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.db import unit_of_work
from mailintake_common.events import Channel, DocumentReceivedV1, Envelope, new_event


async def new_document(engine: AsyncEngine, channel: Channel = "webform", mailbox: str | None = None) -> str:
    """A received document of `channel` (e-mails come to `mailbox`); returns its id."""
    document_id = uuid.uuid4().hex
    async with unit_of_work(engine) as uow:
        await uow.documents.create(document_id, channel=channel, received_at=datetime.now(UTC), mailbox=mailbox)
    return document_id


def received_event(document_id: str, channel: Channel = "webform") -> Envelope[DocumentReceivedV1]:
    return new_event(document_id, DocumentReceivedV1(channel=channel, received_at=datetime.now(UTC), parts=[]))
