"""Stores a submission: blobs, document, timeline and its `received` event in one transaction.

The idempotency key is claimed in the same transaction, so a retried or concurrent
resubmission either sees the first document or waits for it; it never creates a second.
The claim is the gate of the unit's one write statement (`writes.Gate`, issue 18): the writes
happen only if it inserted the key, so a keyed submission is one autocommitted statement, as an
unkeyed one is, instead of BEGIN, the claim, the writes and COMMIT. A resubmission's statement
writes nothing, and the first document is then read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import IO

from sqlalchemy import CTE, String, bindparam, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import details
from mailintake_common import observability as obs
from mailintake_common.db import reading, unit_of_work
from mailintake_common.events import (
    TOPIC_RECEIVED,
    Channel,
    DocumentReceivedV1,
    FormType,
    Mailbox,
    PartRole,
    ReceivedPart,
    new_event,
)
from mailintake_common.privacy import mask_optional
from mailintake_common.tables import documents, idempotency_keys
from mailintake_common.writes import Gate


@dataclass(frozen=True)
class PartIn:
    role: PartRole
    content: bytes | IO[bytes]  # small content as bytes; a large upload as its (spooled) file
    media_type: str
    filename: str | None = None
    declared_type: str | None = None


@dataclass
class Submission:
    channel: Channel
    parts: list[PartIn]
    idempotency_key: str | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    mailbox: Mailbox | None = None
    form_type: FormType | None = None
    submitted_at: datetime | None = None
    batch_id: str | None = None
    scanner_id: str | None = None


@dataclass(frozen=True)
class Stored:
    document_id: str
    created: bool
    status: str


class KeyTaken(Exception):
    """The submission's idempotency key was claimed before: nothing of it was written."""


def _claim() -> tuple[CTE]:
    key = {name: bindparam(f"idem_{name}", type_=String) for name in ("channel", "key", "document_id")}
    claimed = insert(idempotency_keys).values(**key).on_conflict_do_nothing()
    return (claimed.returning(idempotency_keys.c.document_id).cte("claimed"),)


@cache
def _key_gate() -> Gate:
    return Gate("idempotency", _claim)


_FIRST = (
    select(idempotency_keys.c.document_id, documents.c.status)
    .join(documents, documents.c.document_id == idempotency_keys.c.document_id)
    .where(idempotency_keys.c.channel == bindparam("channel"), idempotency_keys.c.key == bindparam("key"))
)


async def _first(engine: AsyncEngine, sub: Submission) -> Stored:
    """The document that claimed the submission's key first (committed: the claim waited for it)."""
    async with reading(engine) as conn:
        first = (await conn.execute(_FIRST, {"channel": sub.channel, "key": sub.idempotency_key})).one()
    return Stored(first.document_id, created=False, status=first.status)


async def store_submission(engine: AsyncEngine, sub: Submission, trace_id: str | None = None) -> Stored:
    document_id = uuid.uuid4().hex
    try:
        await _store(engine, sub, document_id, trace_id)
    except KeyTaken:
        return await _first(engine, sub)
    obs.DOCUMENTS_RECEIVED.labels(sub.channel).inc()
    return Stored(document_id, created=True, status="received")


async def _store(engine: AsyncEngine, sub: Submission, document_id: str, trace_id: str | None) -> None:
    async with unit_of_work(engine) as uow:
        if sub.idempotency_key is not None:
            params = {"idem_channel": sub.channel, "idem_key": sub.idempotency_key, "idem_document_id": document_id}
            uow.writes.gate(_key_gate(), params, KeyTaken)
        parts = []
        for index, part in enumerate(sub.parts):
            if isinstance(part.content, bytes):
                ref = await uow.blobs.put(part.content, part.media_type)
            else:  # streamed from the file: the S3 store never holds it whole
                ref = await uow.blobs.put_file(part.content, part.media_type)
            parts.append(
                ReceivedPart(
                    part_id=f"p{index}",
                    role=part.role,
                    filename=mask_optional(part.filename),  # SPEC 5 Privacy: no TFN in a stored name
                    declared_type=part.declared_type,
                    blob=ref,
                )
            )
        await uow.documents.create(
            document_id,
            channel=sub.channel,
            received_at=sub.received_at,
            mailbox=sub.mailbox,
            form_type=sub.form_type,
        )
        await uow.documents.add_timeline(
            document_id, "intake", "received", [f"{sub.channel} with {len(parts)} part(s) accepted"]
        )
        payload = DocumentReceivedV1(
            channel=sub.channel,
            received_at=sub.received_at,
            mailbox=sub.mailbox,
            form_type=sub.form_type,
            submitted_at=sub.submitted_at,
            batch_id=sub.batch_id,
            scanner_id=sub.scanner_id,
            parts=parts,
        )
        event, names = details.split_received(payload)  # filenames stay here (issue 15)
        await details.keep(uow.conn, document_id, names, uow.writes)
        await uow.outbox.add(TOPIC_RECEIVED, new_event(document_id, event), trace_id=trace_id)
