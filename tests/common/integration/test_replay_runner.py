"""A replayed dead letter is processed again; a redelivery still is not (issue 16, SPEC 3).

The runner is fed records directly (`ConsumerRunner.process`) against the real PostgreSQL, so
each case says exactly which copy of the event arrives when: the same record again, a copy
published before the consumer gave up, a copy sent back with the replay header, and a copy an
operator published by hand after the dead letter.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.consumer import ConsumerRunner, HandlerContext, Subscription
from mailintake_common.db import unit_of_work
from mailintake_common.events import DocumentReceivedV1, Envelope, new_event
from mailintake_common.outbox import encode
from mailintake_common.replay import REPLAY_HEADER
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents, outbox
from tests.support.stack import Infra


@pytest.fixture
def settings(infra: Infra) -> CommonSettings:
    return CommonSettings(
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        consumer_max_attempts=2,
        consumer_backoff_initial_s=0.01,
    )


class Stage:
    """A handler that fails while `broken` and records each time it applies."""

    def __init__(self) -> None:
        self.broken = True
        self.applied = 0

    async def __call__(self, event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        if self.broken:
            raise RuntimeError("the stage cannot read this yet")
        async with ctx.unit_of_work() as uow:
            await uow.documents.advance(event.document_id, "screened")
            self.applied += 1


def record(topic: str, offset: int, value: bytes, *, at_ms: int, headers: list[tuple[str, bytes]] | None = None):
    return ConsumerRecord(topic, 0, offset, at_ms, 0, b"k", value, None, 1, len(value), headers or [])


def now_ms() -> int:
    return int(time.time() * 1000)


async def setup(engine: AsyncEngine, settings: CommonSettings) -> tuple[str, bytes, ConsumerRunner, Stage, str]:
    document_id = uuid.uuid4().hex
    async with unit_of_work(engine) as uow:
        await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
    event = new_event(document_id, DocumentReceivedV1(channel="webform", received_at=datetime.now(UTC), parts=[]))
    topic = f"test.replay.{uuid.uuid4().hex[:8]}"
    stage = Stage()
    runner = ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, stage, "screening")])
    return document_id, encode(event), runner, stage, topic


async def dead_letters(engine: AsyncEngine, document_id: str, topic: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(outbox.c.document_id == document_id, outbox.c.topic == f"{topic}.dlq")
        return int((await conn.execute(query)).scalar_one())


async def status_of(engine: AsyncEngine, document_id: str) -> str:
    async with engine.connect() as conn:
        query = select(documents.c.status).where(documents.c.document_id == document_id)
        return str((await conn.execute(query)).scalar_one())


async def test_redeliveries_are_skipped_and_a_replay_with_the_header_is_applied_once(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    document_id, value, runner, stage, topic = await setup(engine, settings)
    published = now_ms()
    assert await runner.process(record(topic, 0, value, at_ms=published)) == "dead-lettered"
    assert await status_of(engine, document_id) == "failed"
    # the same record again, and a copy the relay had sent before the consumer gave up
    assert await runner.process(record(topic, 0, value, at_ms=published)) == "duplicate"
    assert await runner.process(record(topic, 1, value, at_ms=published + 1)) == "duplicate"
    assert await dead_letters(engine, document_id, topic) == 1

    stage.broken = False  # the cause is fixed
    replayed = record(topic, 7, value, at_ms=published, headers=[(REPLAY_HEADER, b"dlq:0:0")])
    assert await runner.process(replayed) == "applied"
    assert stage.applied == 1 and await status_of(engine, document_id) == "screened"
    # the replayed record redelivered, or replayed twice: applied once only
    assert await runner.process(replayed) == "duplicate"
    assert await runner.process(record(topic, 8, value, at_ms=now_ms() + 1000)) == "duplicate"
    assert stage.applied == 1


async def test_a_copy_published_by_hand_after_the_dead_letter_is_processed_again(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    document_id, value, runner, stage, topic = await setup(engine, settings)
    assert await runner.process(record(topic, 0, value, at_ms=now_ms() - 10_000)) == "dead-lettered"
    stage.broken = False
    assert await runner.process(record(topic, 3, value, at_ms=now_ms() + 50)) == "applied"
    assert stage.applied == 1 and await status_of(engine, document_id) == "screened"


async def test_a_replay_that_fails_again_is_dead_lettered_again(settings: CommonSettings, engine: AsyncEngine) -> None:
    document_id, value, runner, stage, topic = await setup(engine, settings)
    assert await runner.process(record(topic, 0, value, at_ms=now_ms())) == "dead-lettered"
    again = record(topic, 5, value, at_ms=now_ms(), headers=[(REPLAY_HEADER, b"dlq:0:0")])
    assert await runner.process(again) == "dead-lettered"
    assert await dead_letters(engine, document_id, topic) == 2
    assert await status_of(engine, document_id) == "failed"
    stage.broken = False
    assert await runner.process(record(topic, 9, value, at_ms=now_ms(), headers=[(REPLAY_HEADER, b"x")])) == "applied"
