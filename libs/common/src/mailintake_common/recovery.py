"""Running a failed stage again (issue 16): the retry of a failed document and the replay of a
dead letter. Both put the document back at the failed stage's input status and send the stage's
input event again through the outbox, marked `replay_of` so the consumer that dead-lettered it
processes it once more (replay.py); both say on the timeline who asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common.auth import Principal
from mailintake_common.db import UnitOfWork, unit_of_work
from mailintake_common.dlq import DeadLetterV1
from mailintake_common.documents import effective_racs_level
from mailintake_common.domain_errors import Conflict, NotFound
from mailintake_common.events import TOPIC_CLASSIFIED, TOPIC_RECEIVED, TOPIC_SCREENED, dlq_topic
from mailintake_common.reconciler import NEXT_INPUT
from mailintake_common.replay import REPLAY_HEADER
from mailintake_common.tables import outbox, timeline

# input topic -> the status a document waits in for that stage
RESUME_STATUS = {topic: status for status, topic in NEXT_INPUT.items()}
# timeline stage -> its input topic (the consumer runner's Subscription.stage names)
STAGE_INPUT = {"quarantine": TOPIC_RECEIVED, "classifier": TOPIC_SCREENED, "routing": TOPIC_CLASSIFIED}


@dataclass(frozen=True)
class StageInput:
    """The record a stage failed on: where it goes and what it is."""

    topic: str
    key: str | None
    value: bytes

    @property
    def envelope(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


def retry_plan(status: str, found: StageInput | None) -> str:
    """The status a retried document resumes in, or the refusal: pure."""
    if status != "failed":
        raise Conflict("not_failed", "only a failed document can be retried")
    if found is None:
        raise Conflict("input_not_kept", "the failed stage's input event is no longer kept; submit it again")
    if found.topic not in RESUME_STATUS:
        raise Conflict("not_retryable", "this failure is not at a pipeline stage; replay its dead letter")
    return RESUME_STATUS[found.topic]


async def failed_input(conn: AsyncConnection, document_id: str) -> StageInput | None:
    """The record the document's last failure was on: from its dead letter, which holds exactly
    that record, else (dead letter pruned) the last event sent to the failed stage."""
    letters = [dlq_topic(t) for t in RESUME_STATUS]
    row = (
        await conn.execute(
            select(outbox.c.value)
            .where(outbox.c.document_id == document_id, outbox.c.topic.in_(letters))
            .order_by(outbox.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is not None:
        try:
            letter = DeadLetterV1.model_validate_json(bytes(row.value))
            return StageInput(letter.topic, letter.key or document_id, letter.value.encode())
        except ValueError:
            pass
    stage = (
        await conn.execute(
            select(timeline.c.stage)
            .where(timeline.c.document_id == document_id, timeline.c.outcome == "failed")
            .order_by(timeline.c.id.desc())
            .limit(1)
        )
    ).scalar()
    topic = STAGE_INPUT.get(stage or "")
    if topic is None:
        return None
    last = (
        await conn.execute(
            select(outbox.c.key, outbox.c.value)
            .where(outbox.c.document_id == document_id, outbox.c.topic == topic)
            .order_by(outbox.c.id.desc())
            .limit(1)
        )
    ).first()
    return StageInput(topic, last.key, bytes(last.value)) if last else None


async def send_again(uow: UnitOfWork, document_id: str, found: StageInput, replay_of: str, trace_id: str) -> None:
    """Resume the document at the stage and put its input event back in the outbox."""
    if found.topic in RESUME_STATUS:
        await uow.documents.resume(document_id, RESUME_STATUS[found.topic])
    envelope = found.envelope
    await uow.outbox.add_raw(
        found.topic,
        event_id=str(envelope.get("event_id") or replay_of)[:64],
        event_type=str(envelope.get("event_type") or "replay")[:64],
        document_id=document_id,
        key=found.key or document_id,
        value=found.value,
        trace_id=trace_id,
        headers={REPLAY_HEADER: replay_of},
    )


async def retry_document(engine: AsyncEngine, document_id: str, principal: Principal, trace_id: str) -> dict[str, Any]:
    """`POST /v1/documents/{id}/retry`: run the failed stage again (RACS: 404 as for documents)."""
    async with unit_of_work(engine) as uow:
        doc = await uow.documents.get(document_id)
        if doc is None or not principal.can_see(effective_racs_level(doc["racs_level"])):
            raise NotFound("not_found", "no such document")
        found = await failed_input(uow.conn, document_id) if doc["status"] == "failed" else None
        resume = retry_plan(doc["status"], found)
        assert found is not None
        await send_again(uow, document_id, found, f"retry:{document_id}", trace_id)
        await uow.documents.add_timeline(
            document_id, "retry", "requested", [f"{found.topic} sent again to its stage by {principal.actor}"]
        )
    return {"document_id": document_id, "status": resume, "topic": found.topic}


async def replay_dead_letter(
    engine: AsyncEngine, record_id: str, letter: DeadLetterV1, principal: Principal, trace_id: str
) -> dict[str, Any]:
    """Send a dead letter's record back to its topic; the document (if known) resumes there."""
    found = StageInput(letter.topic, letter.key or None, letter.value.encode())
    document_id = letter.key or str(found.envelope.get("document_id") or "")
    async with unit_of_work(engine) as uow:
        doc = await uow.documents.get(document_id) if document_id else None
        if doc is not None and not principal.can_see(effective_racs_level(doc["racs_level"])):
            raise NotFound("not_found", "no such dead letter")
        await send_again(uow, document_id, found, record_id, trace_id)
        if doc is not None:
            await uow.documents.add_timeline(
                document_id, "dlq", "replayed", [f"{record_id} sent back to {letter.topic} by {principal.actor}"]
            )
    return {"id": record_id, "topic": letter.topic, "document_id": document_id or None, "status": "replayed"}
