"""A unit of work's write-only statements go as one statement before COMMIT (issue 18).

Counted on a real PostgreSQL (pg_stat_statements): a stage applying an event runs its check-in,
BEGIN, its claim, one write statement and COMMIT; a unit with nothing to read is one statement.
A deferred write that fails fails the whole unit: nothing is half-written and the event is
retried and dead-lettered as before.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import attempts, details
from mailintake_common.consumer import AlreadyProcessed, ConsumerRunner, HandlerContext, Subscription
from mailintake_common.db import UnitOfWork, unit_of_work
from mailintake_common.events import DocumentReceivedV1, Envelope, ReceivedPart, new_event
from mailintake_common.outbox import encode
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import (
    blobs,
    document_blobs,
    documents,
    outbox,
    processed_events,
    screening_details,
    timeline,
)
from tests.support.runner import new_document, received_event
from tests.support.statements import by_kind, statements_during, warmed_engine

pytestmark = pytest.mark.slow

TOPIC = "test.writes.in"


@pytest.fixture
def settings(counting_database: str) -> CommonSettings:
    return CommonSettings(database_url=counting_database, consumer_max_attempts=2, consumer_backoff_initial_s=0.01)


@pytest.fixture
async def engine(settings: CommonSettings) -> AsyncIterator[AsyncEngine]:
    async with warmed_engine(settings) as engine:
        yield engine


def record_of(event: Envelope[DocumentReceivedV1], offset: int = 0) -> ConsumerRecord:
    value = encode(event)
    key = event.document_id.encode()
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, key, value, None, len(key), len(value), ())


async def screen(
    ctx: HandlerContext[DocumentReceivedV1], document_id: str, details_for: str, *, claim_with_writes: bool = False
) -> None:
    """What a stage's unit of work writes: a blob, its status, the timeline, details and an event."""
    letter = f"Hello, I moved house last month and my new address is below. {uuid.uuid4().hex}".encode()
    async with ctx.unit_of_work(claim_with_writes=claim_with_writes) as uow:
        ref = await uow.blobs.put(letter, "text/plain")
        await uow.documents.advance_later(document_id, "screened", result={"verdict": "clear", "findings": []})
        await uow.documents.add_timeline(document_id, "test", "clear", ["no findings"])
        await details.keep(uow.conn, details_for, details.ScreeningDetails(), uow.writes)
        part = ReceivedPart(part_id="p0", role="raw_email", blob=ref)
        payload = DocumentReceivedV1(channel="email", received_at=datetime.now(UTC), parts=[part])
        await uow.outbox.add(f"{TOPIC}.out", new_event(document_id, payload), trace_id=ctx.trace_id)


async def test_a_stage_applies_an_event_with_its_claim_and_one_write_statement(
    counting_database: str, settings: CommonSettings, engine: AsyncEngine
) -> None:
    document_id = await new_document(engine, "email", "edc")

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        await screen(ctx, event.document_id, event.document_id)

    runner = ConsumerRunner(engine, settings, "writes-stage", [Subscription(TOPIC, handle, "test")])
    outcomes: list[str] = []

    async def apply() -> None:
        outcomes.append(await runner.process(record_of(received_event(document_id, "email"))))

    counted = await statements_during(counting_database, apply)
    assert outcomes == ["applied"]
    # check-in, BEGIN, claim, the writes, COMMIT (before issue 18's writes: ten statements)
    assert by_kind(counted) == {"WITH": 3, "BEGIN": 1, "COMMIT": 1}, counted
    async with engine.connect() as conn:
        doc = (await conn.execute(select(documents).where(documents.c.document_id == document_id))).one()
        assert (doc.status, doc.screening) == ("screened", {"verdict": "clear", "findings": []})
        assert (await conn.execute(select(timeline.c.stage).where(timeline.c.document_id == document_id))).all() == [
            ("test",)
        ]
        linked = (
            await conn.execute(select(document_blobs.c.sha256).where(document_blobs.c.document_id == document_id))
        ).scalar_one()
        assert (await conn.execute(select(blobs.c.content).where(blobs.c.sha256 == linked))).scalar_one()
        assert (
            await conn.execute(
                select(screening_details.c.document_id).where(screening_details.c.document_id == document_id)
            )
        ).scalar_one()
        assert (
            await conn.execute(
                select(outbox.c.event_type).where(outbox.c.document_id == document_id, outbox.c.topic == f"{TOPIC}.out")
            )
        ).all() == [("document.received",)]


async def applied(engine: AsyncEngine, document_id: str) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        doc = (await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))).scalar()
        rows = await conn.execute(select(outbox.c.topic).where(outbox.c.document_id == document_id))
        return [("status", str(doc)), *(("event", topic) for topic in rows.scalars())]


async def test_a_stage_that_only_writes_claims_its_event_in_its_one_write_statement(
    counting_database: str, settings: CommonSettings, engine: AsyncEngine
) -> None:
    document_id = await new_document(engine, "email", "edc")

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        await screen(ctx, event.document_id, event.document_id, claim_with_writes=True)

    runner = ConsumerRunner(engine, settings, "writes-gated", [Subscription(TOPIC, handle, "test")])
    event = received_event(document_id, "email")

    async def apply() -> None:
        assert await runner.process(record_of(event)) == "applied"

    counted = await statements_during(counting_database, apply)
    assert by_kind(counted) == {"WITH": 2}, counted  # check-in; claim and writes, autocommitted
    assert await applied(engine, document_id) == [("status", "screened"), ("event", f"{TOPIC}.out")]
    async with engine.connect() as conn:
        marker = select(processed_events.c.dead_lettered).where(
            processed_events.c.consumer == "writes-gated", processed_events.c.event_id == event.event_id
        )
        assert (await conn.execute(marker)).scalar_one() is False
    assert await attempts.read(engine, "writes-gated", event.event_id) is None  # the try forgotten with the claim


@pytest.mark.parametrize("reads_first", [False, True], ids=["writes only", "a statement of its own first"])
async def test_a_copy_racing_past_the_check_in_changes_nothing_when_the_claim_goes_with_the_writes(
    engine: AsyncEngine, reads_first: bool
) -> None:
    """Two copies of one event both passed the early check (another process had not committed
    yet): the second's claim finds the first's and none of its writes happen."""
    document_id = await new_document(engine, "email", "edc")
    event = received_event(document_id, "email")
    first = HandlerContext(engine, "writes-race", event, trace_id=uuid.uuid4().hex)
    await screen(first, document_id, document_id, claim_with_writes=True)
    before = await applied(engine, document_id)
    second = HandlerContext(engine, "writes-race", event, trace_id=uuid.uuid4().hex)
    with pytest.raises(AlreadyProcessed):
        async with second.unit_of_work(claim_with_writes=True) as uow:
            await uow.documents.add_timeline(document_id, "test", "again")
            await uow.outbox.add(f"{TOPIC}.out", received_event(document_id, "email"))
            if reads_first:
                await uow.documents.get(document_id)  # the claim (and the writes so far) go before it
            await uow.documents.advance_later(document_id, "classified", result={"document_type": None})
    assert await applied(engine, document_id) == before
    async with engine.connect() as conn:
        stages = await conn.execute(select(timeline.c.outcome).where(timeline.c.document_id == document_id))
        assert list(stages.scalars()) == ["clear"]


@pytest.mark.parametrize("claim_with_writes", [False, True], ids=["claim first", "claim with the writes"])
async def test_a_deferred_write_that_fails_fails_the_whole_unit_and_the_event_is_dead_lettered(
    settings: CommonSettings, engine: AsyncEngine, claim_with_writes: bool
) -> None:
    document_id = await new_document(engine, "email", "edc")
    tries: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        tries.append(event.event_id)
        # details for no document: refused when the writes are sent, at the end
        await screen(ctx, event.document_id, uuid.uuid4().hex, claim_with_writes=claim_with_writes)

    group = f"writes-failing-{int(claim_with_writes)}"
    runner = ConsumerRunner(engine, settings, group, [Subscription(TOPIC, handle, "test")])
    event = received_event(document_id, "email")
    assert await runner.process(record_of(event)) == "dead-lettered"
    assert len(tries) == 2  # retried once, then given up (consumer_max_attempts=2)
    async with engine.connect() as conn:
        doc = (await conn.execute(select(documents).where(documents.c.document_id == document_id))).one()
        assert (doc.status, doc.screening) == ("failed", None)  # the stage's status never landed
        stages = (
            await conn.execute(
                select(timeline.c.stage, timeline.c.outcome).where(timeline.c.document_id == document_id)
            )
        ).all()
        assert stages == [("test", "failed")]  # only the dead letter's entry
        assert not (await conn.execute(select(document_blobs).where(document_blobs.c.document_id == document_id))).all()
        topics = (await conn.execute(select(outbox.c.topic).where(outbox.c.document_id == document_id))).scalars().all()
        assert topics == [f"{TOPIC}.dlq"]
        marker = (
            await conn.execute(
                select(processed_events.c.dead_lettered).where(
                    processed_events.c.consumer == group, processed_events.c.event_id == event.event_id
                )
            )
        ).scalar_one()
        assert marker is True


async def test_a_unit_with_nothing_to_read_is_one_statement_without_begin_or_commit(
    counting_database: str, engine: AsyncEngine
) -> None:
    document_id = uuid.uuid4().hex

    async def store() -> None:
        async with unit_of_work(engine) as uow:
            await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
            await uow.documents.add_timeline(document_id, "intake", "received")
            await uow.outbox.add("test.writes.received", received_event(document_id, "email"))

    counted = await statements_during(counting_database, store)
    assert by_kind(counted) == {"WITH": 1}, counted
    async with engine.connect() as conn:
        assert (await conn.execute(select(timeline.c.outcome).where(timeline.c.document_id == document_id))).all() == [
            ("received",)
        ]


async def test_a_failing_unit_with_nothing_to_read_writes_nothing(engine: AsyncEngine) -> None:
    document_id = uuid.uuid4().hex
    with pytest.raises(IntegrityError):
        async with unit_of_work(engine) as uow:
            await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
            await uow.outbox.add("test.writes.received", received_event(document_id, "email"))
            await uow.documents.add_timeline(uuid.uuid4().hex, "intake", "received")  # no such document
    async with engine.connect() as conn:
        assert not (await conn.execute(select(documents).where(documents.c.document_id == document_id))).all()
        assert not (await conn.execute(select(outbox).where(outbox.c.document_id == document_id))).all()


async def test_deferred_writes_keep_their_order_and_a_later_statement_sees_them(engine: AsyncEngine) -> None:
    document_id = uuid.uuid4().hex
    async with unit_of_work(engine) as uow:
        await uow.documents.create(document_id, channel="email", received_at=datetime.now(UTC))
        await uow.documents.add_timeline(document_id, "first", "done")
        await uow.outbox.add("test.writes.a", received_event(document_id, "email"))
        seen = await uow.documents.get(document_id)  # another statement: the writes go before it
        await uow.documents.add_timeline(document_id, "second", "done")
        await uow.documents.add_timeline(document_id, "third", "done")
        await uow.outbox.add("test.writes.b", received_event(document_id, "email"))
        await uow.outbox.add("test.writes.c", received_event(document_id, "email"))
    assert seen is not None and seen["status"] == "received"
    async with engine.connect() as conn:
        stages = (
            await conn.execute(
                select(timeline.c.stage).where(timeline.c.document_id == document_id).order_by(timeline.c.id)
            )
        ).scalars()
        assert list(stages) == ["first", "second", "third"]
        topics = (
            await conn.execute(select(outbox.c.topic).where(outbox.c.document_id == document_id).order_by(outbox.c.id))
        ).scalars()
        assert list(topics) == ["test.writes.a", "test.writes.b", "test.writes.c"]


async def test_a_unit_of_work_committed_by_its_connection_still_sends_its_writes(engine: AsyncEngine) -> None:
    document_id = uuid.uuid4().hex
    async with engine.begin() as conn:  # as the dead-letter path opens one
        await UnitOfWork(conn).documents.create(document_id, channel="email", received_at=datetime.now(UTC))
    rolled_back = uuid.uuid4().hex
    async with engine.connect() as conn:
        uow = UnitOfWork(conn)
        await conn.execute(select(1))  # the transaction has begun
        await uow.documents.create(rolled_back, channel="email", received_at=datetime.now(UTC))
        await conn.rollback()
        await conn.execute(select(1))  # a statement after the rollback sends nothing left over
        await conn.commit()
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                select(documents.c.document_id).where(documents.c.document_id.in_([document_id, rolled_back]))
            )
        ).scalars()
        assert list(found) == [document_id]
