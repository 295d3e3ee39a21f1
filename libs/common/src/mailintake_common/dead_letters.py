"""`GET /v1/dlq` and `POST /v1/dlq/{id}/replay` (admin): the dead letters of the topics a service
consumes, read from the broker by the service that owns them (issue 16), so operators never
need broker access. A record's id is `<dlq topic>:<partition>:<offset>`.

Records are read with a group-less consumer, topic by topic and partition by partition up to
the end offsets seen when the request started. Listings show ids, the error class and whether
the event was processed since; never the record's content.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from contextlib import suppress
from typing import Annotated, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from mailintake_common.auth import Principal, require_scope
from mailintake_common.dlq import DeadLetterV1
from mailintake_common.documents import document_racs_level
from mailintake_common.errors import ApiError
from mailintake_common.kafka import kafka_client_kwargs
from mailintake_common.recovery import StageInput, replay_dead_letter
from mailintake_common.replay import marker_of
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents

router = APIRouter(prefix="/v1", tags=["dead letters"])
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
Position = tuple[str, int, int]


def record_id(topic: str, partition: int, offset: int) -> str:
    return f"{topic}:{partition}:{offset}"


def parse_record_id(value: str) -> Position | None:
    topic, _, rest = value.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    try:
        return topic, int(partition), int(rest)
    except ValueError:
        return None


async def read_records(
    settings: CommonSettings,
    topics: list[str],
    after: Position | None,
    limit: int,
    only: tuple[str, int] | None = None,
) -> list[ConsumerRecord]:
    """Up to `limit` records of `topics` after position `after`, in topic, partition, offset order."""
    consumer = AIOKafkaConsumer(**kafka_client_kwargs(settings), enable_auto_commit=False, request_timeout_ms=10_000)
    try:
        await asyncio.wait_for(consumer.start(), settings.kafka_request_timeout_ms / 1000)
    except BaseException:
        with suppress(Exception):
            await consumer.stop()
        raise
    found: list[ConsumerRecord] = []
    try:
        existing = await consumer.topics()
        for topic in sorted(t for t in topics if t in existing):
            for partition in sorted(consumer.partitions_for_topic(topic) or ()):
                if (only and (topic, partition) != only) or (after and (topic, partition) < after[:2]):
                    continue
                tp = TopicPartition(topic, partition)
                start = (await consumer.beginning_offsets([tp]))[tp]
                end = (await consumer.end_offsets([tp]))[tp]
                if after and (topic, partition) == after[:2]:
                    start = max(start, after[2] + 1)
                if start >= end:
                    continue
                consumer.assign([tp])
                consumer.seek(tp, start)
                while len(found) < limit and await consumer.position(tp) < end:
                    batch = await consumer.getmany(tp, timeout_ms=2000, max_records=limit - len(found))
                    if not batch.get(tp):
                        break
                    found.extend(r for r in batch[tp] if r.offset < end)
                if len(found) >= limit:
                    return found
        return found
    finally:
        await consumer.stop()


def _letter(record: ConsumerRecord) -> DeadLetterV1 | None:
    try:
        return DeadLetterV1.model_validate_json(record.value or b"")
    except ValueError:
        return None


async def _describe(request: Request, records: list[ConsumerRecord], principal: Principal) -> list[dict[str, Any]]:
    letters = [(r, _letter(r)) for r in records]
    ids = {(lt.key if lt else (r.key or b"").decode(errors="replace")) for r, lt in letters}
    engine = request.app.state.engine
    async with engine.connect() as conn:
        levels = dict(
            (
                await conn.execute(
                    select(documents.c.document_id, document_racs_level()).where(documents.c.document_id.in_(ids))
                )
            ).all()
        )
        items = []
        for record, letter in letters:
            document_id = letter.key if letter else (record.key or b"").decode(errors="replace")
            if not principal.can_see(levels.get(document_id, 0)):
                continue
            envelope = StageInput(letter.topic, None, letter.value.encode()).envelope if letter else {}
            event_id = str(envelope.get("event_id") or "")
            marker = await marker_of(conn, letter.consumer, event_id) if letter and event_id else None
            items.append(
                {
                    "id": record_id(record.topic, record.partition, record.offset),
                    "dlq_topic": record.topic,
                    "topic": letter.topic if letter else None,
                    "partition": letter.partition if letter else None,
                    "offset": letter.offset if letter else None,
                    "document_id": document_id or None,
                    "event_id": event_id or None,
                    "event_type": envelope.get("event_type"),
                    "error": letter.error if letter else "unreadable dead letter",
                    "consumer": letter.consumer if letter else None,
                    "failed_at": letter.failed_at.isoformat() if letter else None,
                    "processed_since": bool(marker and not marker.dead_lettered),
                }
            )
    return items


def _cursor(value: str | None) -> Position | None:
    if not value:
        return None
    try:
        position = parse_record_id(base64.urlsafe_b64decode(value.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        position = None
    if position is None:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned")
    return position


@router.get("/dlq")
async def list_dead_letters(
    request: Request,
    principal: AdminKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The dead letters of this service's topics, oldest first per topic and partition."""
    topics: list[str] = request.app.state.dead_letter_topics
    settings = request.app.state.settings
    after = _cursor(cursor)  # 422 for a cursor this API did not give, before the broker is asked
    try:
        records = await read_records(settings, topics, after, limit + 1)
    except Exception:
        raise ApiError(503, "broker_unavailable", "the broker cannot be read now; try again") from None
    page, more = records[:limit], len(records) > limit
    last = record_id(page[-1].topic, page[-1].partition, page[-1].offset) if more and page else None
    return {
        "topics": topics,
        "items": await _describe(request, page, principal),
        "next_cursor": base64.urlsafe_b64encode(last.encode()).decode() if last else None,
    }


@router.post("/dlq/{dead_letter_id}/replay", status_code=202)
async def replay(dead_letter_id: str, request: Request, principal: AdminKey) -> JSONResponse:
    """Send a dead letter's record back to its topic: its consumer processes it again (replay.py)."""
    position = parse_record_id(dead_letter_id[:300])
    topics: list[str] = request.app.state.dead_letter_topics
    if position is None or position[0] not in topics:
        raise ApiError(404, "not_found", "no such dead letter on this service")
    settings = request.app.state.settings
    try:
        records = await read_records(settings, [position[0]], (*position[:2], position[2] - 1), 1, only=position[:2])
    except Exception:
        raise ApiError(503, "broker_unavailable", "the broker cannot be read now; try again") from None
    letter = _letter(records[0]) if records and records[0].offset == position[2] else None
    if letter is None:
        raise ApiError(404, "not_found", "no such dead letter on this service")
    trace_id = getattr(request.state, "trace_id", "") or dead_letter_id
    done = await replay_dead_letter(request.app.state.engine, dead_letter_id, letter, principal, trace_id)
    return JSONResponse(done, status_code=202)
