"""A partition's batch checks in with one statement, which also reads the stage's details (issue 18).

Counted on a real PostgreSQL (pg_stat_statements): the check-ins of a batch are one statement,
the same text whatever its size, and a handler that declared its details finds them in its
context instead of reading them; one that declared it reads its event's blobs finds the small
ones already read (a large one it reads itself, as before). A copy of an event twice in one
batch is still applied once, a replay is still counted afresh, and a crash loop still ends in
the DLQ without dragging along a neighbour that never started.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import attempts, details
from mailintake_common.blobs import blob_store
from mailintake_common.consumer import ConsumerRunner, HandlerContext, Subscription
from mailintake_common.db import reading, unit_of_work
from mailintake_common.events import BlobRef, DocumentReceivedV1, Envelope, ReceivedPart, new_event
from mailintake_common.handler_context import reads_blobs, reads_details
from mailintake_common.outbox import encode
from mailintake_common.replay import REPLAY_HEADER
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents, outbox, timeline
from tests.support.runner import new_document, received_event
from tests.support.statements import by_kind, statements_during, warmed_engine

pytestmark = pytest.mark.slow

TOPIC = "test.batch.in"
TP = TopicPartition(TOPIC, 0)


@pytest.fixture
def settings(counting_database: str) -> CommonSettings:
    return CommonSettings(database_url=counting_database, consumer_max_attempts=2, consumer_backoff_initial_s=0.01)


@pytest.fixture
async def engine(settings: CommonSettings) -> AsyncIterator[AsyncEngine]:
    async with warmed_engine(settings) as engine:
        yield engine


async def screened_document(engine: AsyncEngine, attachment: str | None = None) -> str:
    """An e-mail, and with `attachment` what quarantine kept about it."""
    document_id = await new_document(engine, "email", "edc")
    if attachment is not None:
        async with unit_of_work(engine) as uow:
            kept = details.ScreeningDetails(parts=[details.PartNames(filename=attachment, source="attachment 1")])
            await details.keep(uow.conn, document_id, kept, uow.writes)
    return document_id


def received(document_id: str) -> Envelope[DocumentReceivedV1]:
    return received_event(document_id, "email")


def record_of(
    event: Envelope[DocumentReceivedV1], offset: int, headers: list[tuple[str, bytes]] | None = None
) -> ConsumerRecord:
    value, key = encode(event), event.document_id.encode()
    at_ms = int(time.time() * 1000)
    return ConsumerRecord(TOPIC, 0, offset, at_ms, 0, key, value, None, len(key), len(value), headers or [])


async def applied_count(engine: AsyncEngine, document_id: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(timeline.c.document_id == document_id, timeline.c.outcome == "applied")
        return int((await conn.execute(query)).scalar_one())


async def apply(ctx: HandlerContext[DocumentReceivedV1]) -> None:
    async with ctx.unit_of_work(claim_with_writes=True) as uow:
        await uow.documents.add_timeline(ctx.event.document_id, "test", "applied")


async def test_a_batch_checks_in_with_one_statement_that_brings_each_handler_its_details(
    counting_database: str, settings: CommonSettings, engine: AsyncEngine
) -> None:
    names = ["payslip march.pdf", "court order.pdf", "letter.docx", "bank statement.pdf", "photo.jpg", "form.pdf"]
    docs = {await screened_document(engine, name): name for name in names}
    seen: dict[str, str | None] = {}

    @reads_details(details.ScreeningDetails)
    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        known = ctx.details_of(details.ScreeningDetails)
        seen[event.document_id] = known.parts[0].filename if known else None
        await apply(ctx)

    runner = ConsumerRunner(engine, settings, "batch-stage", [Subscription(TOPIC, handle, "test")])
    events = [received(doc) for doc in docs]
    finished: dict[TopicPartition, int] = {}

    async def two_batches() -> None:  # four records, then two: the same statement text
        await runner.apply_batch(TP, [record_of(e, i) for i, e in enumerate(events[:4])], finished)
        await runner.apply_batch(TP, [record_of(e, 4 + i) for i, e in enumerate(events[4:])], finished)

    counted = await statements_during(counting_database, two_batches)
    assert seen == docs  # every handler had its document's details without reading them
    check_ins = {query: calls for query, calls in counted.items() if "unnest" in query}
    assert list(check_ins.values()) == [2], counted  # one statement a batch, one text for both sizes
    # the batch's check-in, then each event's claim-and-writes: no details read, no BEGIN or COMMIT
    assert by_kind(counted) == {"WITH": 2 + len(events)}, counted
    assert finished == {TP: 6}


async def test_a_handler_reads_its_details_itself_when_they_were_not_fetched(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    document_id = await screened_document(engine)  # nothing kept for it

    @reads_details(details.ScreeningDetails)
    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        assert ctx.details_of(details.ScreeningDetails) is None
        assert ctx.details_of(details.ReceivedDetails) is None
        await apply(ctx)

    runner = ConsumerRunner(engine, settings, "batch-none", [Subscription(TOPIC, handle, "test")])
    await runner.apply_batch(TP, [record_of(received(document_id), 0)], {})
    assert await applied_count(engine, document_id) == 1


async def test_a_copy_of_an_event_twice_in_one_batch_is_applied_once(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    document_id, other = await screened_document(engine), await screened_document(engine)
    event = received(document_id)
    calls: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        calls.append(event.document_id)
        await apply(ctx)

    runner = ConsumerRunner(engine, settings, "batch-twice", [Subscription(TOPIC, handle, "test")])
    finished: dict[TopicPartition, int] = {}
    batch = [record_of(event, 0), record_of(received(other), 1), record_of(event, 2)]
    await runner.apply_batch(TP, batch, finished)
    assert sorted(calls) == sorted([document_id, other])  # the second copy skipped before its handler
    assert await applied_count(engine, document_id) == 1
    assert finished == {TP: 3}


async def test_a_replay_in_a_batch_is_counted_afresh(settings: CommonSettings, engine: AsyncEngine) -> None:
    document_id = await screened_document(engine)
    event = received(document_id)
    tries: list[str] = []

    async def broken(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        tries.append(event.event_id)
        raise RuntimeError("this stage cannot read it yet")

    runner = ConsumerRunner(engine, settings, "batch-replay", [Subscription(TOPIC, broken, "test")])
    await runner.apply_batch(TP, [record_of(event, 0)], {})
    assert len(tries) == 2  # consumer_max_attempts=2, then the DLQ
    replayed = record_of(event, 9, headers=[(REPLAY_HEADER, b"test.batch.in.dlq:0:0")])
    await runner.apply_batch(TP, [replayed], {})
    assert len(tries) == 4  # two tries again, not dead-lettered at once on the old count
    async with engine.connect() as conn:
        query = select(func.count()).where(outbox.c.document_id == document_id, outbox.c.topic == f"{TOPIC}.dlq")
        assert (await conn.execute(query)).scalar_one() == 2


async def test_a_crash_loop_ends_in_the_dlq_and_a_neighbour_that_never_started_is_counted_once(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    poison_doc, neighbour_doc = await screened_document(engine), await screened_document(engine)
    poison, neighbour = received(poison_doc), received(neighbour_doc)
    started: list[str] = []
    one_at_a_time = settings.model_copy(update={"consumer_documents_per_partition": 1})

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        started.append(event.document_id)
        if event.document_id == poison_doc:
            await asyncio.Event().wait()  # the service dies while reading it (cancelled below)
        await apply(ctx)

    batch = [record_of(poison, 0), record_of(neighbour, 1)]
    for crash in range(2):  # two processes died under the poison; the neighbour waited behind it
        runner = ConsumerRunner(engine, one_at_a_time, "batch-crash", [Subscription(TOPIC, handle, "test")])
        task = asyncio.create_task(runner.apply_batch(TP, batch, {}))
        async with asyncio.timeout(20):
            while started.count(poison_doc) < crash + 1:
                await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert started == [poison_doc, poison_doc]
    assert await attempts.read(engine, "batch-crash", poison.event_id) == attempts.Tally(2, 0, None)
    assert await attempts.read(engine, "batch-crash", neighbour.event_id) == attempts.Tally(1, 0, None)

    runner = ConsumerRunner(engine, one_at_a_time, "batch-crash", [Subscription(TOPIC, handle, "test")])
    await runner.apply_batch(TP, batch, {})
    assert started == [poison_doc, poison_doc, neighbour_doc]  # the poison not tried a third time
    async with engine.connect() as conn:
        status = select(documents.c.status).where(documents.c.document_id == poison_doc)
        assert (await conn.execute(status)).scalar_one() == "failed"
        reasons = select(timeline.c.reasons).where(timeline.c.document_id == poison_doc)
        assert (await conn.execute(reasons)).scalar_one() == [
            "no outcome (the service stopped while handling it) after 2 attempt(s)"
        ]
    assert await applied_count(engine, neighbour_doc) == 1


async def stored_letter(engine: AsyncEngine, document_id: str, content: bytes) -> BlobRef:
    async with unit_of_work(engine) as uow:
        return await uow.blobs.put(content, "message/rfc822")


def received_with(document_id: str, ref: BlobRef) -> Envelope[DocumentReceivedV1]:
    part = ReceivedPart(part_id="p0", role="raw_email", blob=ref)
    return new_event(document_id, DocumentReceivedV1(channel="email", received_at=datetime.now(UTC), parts=[part]))


async def test_a_batch_reads_its_small_blobs_with_its_check_in_and_a_large_one_is_read_when_needed(
    counting_database: str, settings: CommonSettings, engine: AsyncEngine
) -> None:
    small = settings.model_copy(update={"consumer_prefetch_blob_bytes": 16 * 1024})
    letters = {
        await screened_document(engine): (
            f"Hi, it's about my payments again, reference {i}. The amount changed last week and I "
            "don't know why. Could somebody call me? Thanks, Jo"
        ).encode()
        for i in range(3)
    }
    big_doc = await screened_document(engine)
    letters[big_doc] = b"Scanned pages follow.\n" + os.urandom(40 * 1024)  # above the bound: read by its handler
    refs = {doc: await stored_letter(engine, doc, content) for doc, content in letters.items()}
    read: dict[str, bytes] = {}

    @reads_blobs
    @reads_details(details.ScreeningDetails)
    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        async with reading(ctx.engine) as conn:
            read[event.document_id] = await blob_store(conn).get(event.payload.parts[0].blob)
        await apply(ctx)

    runner = ConsumerRunner(engine, small, "batch-blobs", [Subscription(TOPIC, handle, "test")])
    batch = [record_of(received_with(doc, ref), i) for i, (doc, ref) in enumerate(refs.items())]
    counted = await statements_during(counting_database, lambda: runner.apply_batch(TP, batch, {}))
    assert read == letters  # every handler had its event's content, byte for byte
    blob_reads = {query: calls for query, calls in counted.items() if query.startswith("SELECT blobs.content")}
    assert list(blob_reads.values()) == [1], counted  # only the large one, by its own handler
    check_ins = [query for query in counted if "unnest" in query]
    assert len(check_ins) == 1 and "FROM blobs" in check_ins[0], counted
    assert by_kind(counted) == {"WITH": 1 + len(letters), "SELECT": 1}, counted


async def test_a_handler_that_does_not_read_blobs_gets_a_check_in_without_them(
    counting_database: str, settings: CommonSettings, engine: AsyncEngine
) -> None:
    document_id = await screened_document(engine)
    ref = await stored_letter(engine, document_id, b"Please update my address, I have moved to Geelong. " * 3)

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        await apply(ctx)

    runner = ConsumerRunner(engine, settings, "batch-no-blobs", [Subscription(TOPIC, handle, "test")])
    batch = [record_of(received_with(document_id, ref), 0)]
    counted = await statements_during(counting_database, lambda: runner.apply_batch(TP, batch, {}))
    check_ins = [query for query in counted if "unnest" in query]
    assert len(check_ins) == 1 and "FROM blobs" not in check_ins[0], counted
