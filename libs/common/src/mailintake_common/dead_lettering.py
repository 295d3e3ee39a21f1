"""A consumer's dead letter: the record to `<topic>.dlq` through the outbox, the document marked
failed with a timeline entry, and the event id marked dead-lettered (replay.py), in one
transaction. Split from consumer.py to keep both short."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.attempts import Tally
from mailintake_common.db import UnitOfWork
from mailintake_common.events import Envelope, dlq_topic
from mailintake_common.outbox import dumps
from mailintake_common.privacy import mask_tfns
from mailintake_common.replay import claim

log = logging.getLogger("mailintake_common.consumer")


async def dead_letter(
    engine: AsyncEngine,
    group: str,
    record: ConsumerRecord,
    stage: str,
    event: Envelope[Any] | None,
    error: str,
    trace_id: str,
    tally: Tally | None = None,
    *,
    replay: bool = False,
) -> bool:
    """Send the record to `<topic>.dlq` and note it on the document; False when it could not be
    written (the database is down: the caller keeps trying rather than lose the message)."""
    dlq_value = dumps(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": (record.key or b"").decode(errors="replace"),
            # The copy a person reads: a record that never validated may still carry a TFN.
            "value": mask_tfns((record.value or b"").decode(errors="replace")),
            "error": error,
            "consumer": group,
            "failed_at": datetime.now(UTC).isoformat(),
            "attempts": tally.attempts if tally else 0,
            "worker_failures": tally.worker_failures if tally else 0,
        }
    )
    document_id = event.document_id if event else None
    try:
        async with engine.begin() as conn:
            if event is not None and not await claim(conn, group, event.event_id, replay=replay, dead_letter=True):
                return True  # applied (or dead-lettered) meanwhile by another copy
            uow = UnitOfWork(conn)
            await uow.outbox.add_raw(
                dlq_topic(record.topic),
                event_id=uuid.uuid4().hex,
                event_type="dead_letter",
                document_id=document_id,
                key=(record.key or b"").decode(errors="replace") or None,
                value=dlq_value,
                trace_id=trace_id,
            )
            if document_id is not None and await uow.documents.advance(document_id, "failed"):
                await uow.documents.add_timeline(document_id, stage, "failed", [error])
            await uow.flush()
    except Exception as exc:
        log.error("dead-letter write failed", extra={"consumer": group, "error": type(exc).__name__})
        return False
    log.warning(
        "dead-lettered",
        extra={"consumer": group, "topic": record.topic, "offset": record.offset, "document_id": document_id},
    )
    return True
