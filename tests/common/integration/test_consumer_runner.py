"""The consumer runner: idempotent by event id, bounded retries, then the DLQ (SPEC 2)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import consumer as consumer_module
from mailintake_common.blobs import blob_store
from mailintake_common.consumer import ConsumerRunner, HandlerContext, PermanentError, Subscription
from mailintake_common.events import DocumentReceivedV1, DocumentReceivedV2, Envelope, new_event
from mailintake_common.kafka import ensure_topics
from mailintake_common.outbox import Relay, encode
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import consumer_attempts, documents, outbox, timeline
from mailintake_common.workers import WorkerTimedOut
from tests.support.kafka import read_topic
from tests.support.runner import new_document, received_event
from tests.support.stack import Infra, start_object_store


@pytest.fixture
def topic() -> str:
    return f"test.runner.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(infra: Infra) -> CommonSettings:
    return CommonSettings(
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
        consumer_max_attempts=3,
        consumer_backoff_initial_s=0.01,
    )


async def produce(bootstrap: str, topic: str, values: list[bytes], key: str = "k") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def run_until(runner: ConsumerRunner, relay: Relay | None, condition, timeout_s: float = 40.0) -> None:
    tasks = [asyncio.create_task(runner.run())] + ([asyncio.create_task(relay.run())] if relay else [])
    try:
        async with asyncio.timeout(timeout_s):
            while not await condition():
                await asyncio.sleep(0.2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_event_delivered_twice_is_applied_once_and_publishes_once(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    document_id = await new_document(engine)
    calls: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        calls.append(event.event_id)
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")
            await uow.outbox.add(f"{topic}.out", new_event(event.document_id, event.payload), trace_id=ctx.trace_id)

    event = received_event(document_id)
    await ensure_topics(settings, [topic], 4)
    await produce(settings.kafka_bootstrap, topic, [encode(event), encode(event)], key=document_id)
    runner = ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, handle, "test")])

    async def both_seen() -> bool:
        return runner.started.is_set() and len(calls) >= 1 and await _count_timeline(engine, document_id) >= 1

    await run_until(runner, None, both_seen)
    # The second copy arrives after the first is applied; give the runner time to (not) apply it.
    await run_until(
        ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, handle, "test")]), None, _after(2.0)
    )
    assert await _count_timeline(engine, document_id) == 1
    async with engine.connect() as conn:
        published = (await conn.execute(select(func.count()).where(outbox.c.topic == f"{topic}.out"))).scalar_one()
    assert published == 1


async def test_a_failing_handler_is_retried_then_dead_lettered_and_the_runner_carries_on(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    broken_doc, good_doc = await new_document(engine), await new_document(engine)
    attempts: dict[str, int] = {}

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        attempts[event.document_id] = attempts.get(event.document_id, 0) + 1
        if event.document_id == broken_doc:
            raise RuntimeError("cannot handle this one")
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")

    await ensure_topics(settings, [topic, f"{topic}.dlq"], 1)
    await produce(
        settings.kafka_bootstrap,
        topic,
        [encode(received_event(broken_doc)), b"{poison", encode(received_event(good_doc))],
    )
    runner = ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, handle, "screening")])

    async def good_applied() -> bool:
        return await _count_timeline(engine, good_doc) == 1 and await _unpublished(engine) == 0

    await run_until(runner, Relay(engine, settings), good_applied)
    assert attempts[broken_doc] == settings.consumer_max_attempts
    dead = await read_topic(settings.kafka_bootstrap, f"{topic}.dlq", lambda values: len(values) >= 2)
    assert any(broken_doc in d["value"] and d["topic"] == topic for d in dead)
    assert any("RuntimeError after 3 attempt(s)" in d["error"] for d in dead)
    assert any(d["error"].startswith("invalid event") for d in dead)  # the poison message
    async with engine.connect() as conn:
        status = (await conn.execute(select(documents.c.status).where(documents.c.document_id == broken_doc))).scalar()
        failures = (
            await conn.execute(select(timeline.c.stage, timeline.c.outcome).where(timeline.c.document_id == broken_doc))
        ).all()
    assert status == "failed"
    assert [(f.stage, f.outcome) for f in failures] == [("screening", "failed")]


async def test_a_permanent_error_goes_to_the_dlq_without_retries(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    document_id = await new_document(engine)
    attempts: list[int] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        attempts.append(1)
        raise PermanentError("content can never be read")

    await ensure_topics(settings, [topic], 1)
    await produce(settings.kafka_bootstrap, topic, [encode(received_event(document_id))])
    runner = ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, handle, "classification")])

    async def failed() -> bool:
        async with engine.connect() as conn:
            return (
                await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))
            ).scalar() == "failed"

    await run_until(runner, None, failed)
    assert attempts == [1]


async def test_worker_failures_are_counted_across_a_restart_and_end_in_the_dlq(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    """Issue 15: the count lives in PostgreSQL, so a new runner goes on from the old one's count."""
    document_id, good_doc = await new_document(engine), await new_document(engine)
    tries: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        if event.document_id == document_id:
            tries.append(event.event_id)
            raise WorkerTimedOut("the task ran past its time limit of 1 s")
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")

    event, good = received_event(document_id), received_event(good_doc)
    await ensure_topics(settings, [topic], 1)
    await produce(settings.kafka_bootstrap, topic, [encode(event), encode(good)])
    group = f"group-{topic}"
    limits = {"consumer_max_attempts": 10, "consumer_max_worker_failures": 3}
    patient = settings.model_copy(update={**limits, "consumer_backoff_initial_s": 600.0})
    first = ConsumerRunner(engine, patient, group, [Subscription(topic, handle, "screening")])

    async def counted_once() -> bool:
        return len(tries) == 1 and (await _tally(engine, group, event.event_id)) == (1, 1)

    await run_until(first, None, counted_once)  # then stopped, as a restart would, mid-backoff
    second = ConsumerRunner(engine, settings.model_copy(update=limits), group, [Subscription(topic, handle, "s")])

    async def good_applied() -> bool:
        return await _count_timeline(engine, good_doc) == 1

    await run_until(second, None, good_applied)
    assert len(tries) == 3  # one before the restart, two after: not three more
    assert await _tally(engine, group, event.event_id) == (3, 3)
    assert await _tally(engine, group, good.event_id) is None  # applied: its count is gone
    async with engine.connect() as conn:
        status = (await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))).scalar()
        reasons = (await conn.execute(select(timeline.c.reasons).where(timeline.c.document_id == document_id))).scalar()
    assert status == "failed"
    lost = "WorkerTimedOut: the task ran past its time limit of 1 s"
    assert reasons == [f"{lost} after 3 attempt(s), 3 worker failure(s)"]


async def _tally(engine: AsyncEngine, group: str, event_id: str) -> tuple[int, int] | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(consumer_attempts.c.attempts, consumer_attempts.c.worker_failures).where(
                    consumer_attempts.c.consumer == group, consumer_attempts.c.event_id == event_id
                )
            )
        ).first()
    return (row.attempts, row.worker_failures) if row else None


def _after(seconds: float):
    start: list[float] = []

    async def condition() -> bool:
        now = asyncio.get_running_loop().time()
        if not start:
            start.append(now)
        return now - start[0] >= seconds

    return condition


async def _count_timeline(engine: AsyncEngine, document_id: str) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                select(func.count()).where(timeline.c.document_id == document_id, timeline.c.outcome == "applied")
            )
        ).scalar_one()


async def _unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).where(outbox.c.published_at.is_(None)))).scalar_one()


async def test_shutdown_commits_what_finished_and_nothing_more(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    applied: list[str] = []

    async def slow(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        await asyncio.sleep(0.4)
        async with ctx.unit_of_work():
            pass
        # Counted once the handler is done (its commit awaited): a cancel during the commit is not
        # "finished", and the runner rightly leaves its offset uncommitted (it was flaky counted inside).
        applied.append(event.event_id)

    await ensure_topics(settings, [topic], 1)
    await produce(
        settings.kafka_bootstrap, topic, [encode(received_event(await new_document(engine))) for _ in range(8)]
    )
    group = f"group-{topic}"
    runner = ConsumerRunner(engine, settings, group, [Subscription(topic, slow, "test")])
    task = asyncio.create_task(runner.run())
    async with asyncio.timeout(40):
        while len(applied) < 2:
            await asyncio.sleep(0.05)
    task.cancel()  # mid-batch: some records applied, one in flight, the rest untouched
    await asyncio.gather(task, return_exceptions=True)
    finished = len(applied)
    assert 2 <= finished < 8
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        committed = await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()
    assert committed == finished


async def test_a_superseded_v1_event_is_read_by_default_and_dead_lettered_once_reading_it_is_turned_off(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    """Issue 15: v1 events carried personal details; once none are in flight they are refused."""
    old_doc, new_doc = await new_document(engine), await new_document(engine)
    applied: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        async with ctx.unit_of_work():
            applied.append(event.document_id)

    current = new_event(new_doc, DocumentReceivedV2(channel="webform", received_at=datetime.now(UTC), parts=[]))
    assert received_event(old_doc).schema_version == 1 and current.schema_version == 2
    await ensure_topics(settings.kafka_bootstrap, [topic, f"{topic}.dlq"], 1)
    await produce(settings.kafka_bootstrap, topic, [encode(received_event(old_doc)), encode(current)])
    strict = settings.model_copy(update={"read_superseded_payloads": False})
    runner = ConsumerRunner(engine, strict, f"group-{topic}", [Subscription(topic, handle, "screening")])

    async def both_done() -> bool:
        return new_doc in applied and await _unpublished(engine) == 0

    await run_until(runner, Relay(engine, settings), both_done)
    assert applied == [new_doc]
    dead = await read_topic(settings.kafka_bootstrap, f"{topic}.dlq", lambda values: len(values) >= 1)
    assert [d["error"] for d in dead] == ["invalid event: superseded version document.received v1"]

    lenient = ConsumerRunner(engine, settings, f"group-{topic}-2", [Subscription(topic, handle, "screening")])

    async def old_applied() -> bool:
        return old_doc in applied

    await run_until(lenient, None, old_applied)
    assert settings.read_superseded_payloads is True


@pytest.mark.slow
async def test_an_object_store_outage_is_waited_out_and_fails_no_document(
    settings: CommonSettings, engine: AsyncEngine, topic: str, tmp_path: Path
) -> None:
    """The bucket is down for longer than the attempts limit allows: the event waits, uncounted,
    and is applied once the bucket is back (a real SeaweedFS server, stopped and started)."""
    server, blob_settings = start_object_store(tmp_path)
    on_s3 = CommonSettings.model_validate({"database_url": settings.database_url, **blob_settings})
    try:
        async with engine.begin() as conn:
            ref = await blob_store(conn, on_s3).put(b"Dear team, my new address is below.", "text/plain")
        document_id = await new_document(engine)
        tries: list[str] = []

        async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
            async with ctx.engine.connect() as conn:
                try:
                    await blob_store(conn, on_s3).get(ref)
                except Exception as exc:
                    tries.append(type(exc).__name__)
                    raise
            async with ctx.unit_of_work() as uow:
                await uow.documents.add_timeline(event.document_id, "test", "applied")

        server.stop()
        await ensure_topics(settings.kafka_bootstrap, [topic, f"{topic}.dlq"], 1)
        await produce(settings.kafka_bootstrap, topic, [encode(received_event(document_id))])
        runner = ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, handle, "screening")])

        async def outlasted_the_limit() -> bool:
            return len(tries) > settings.consumer_max_attempts + 1

        await run_until(runner, None, outlasted_the_limit)
        assert set(tries) == {"ObjectStoreUnavailable"}
        server.start()
        runner = ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, handle, "screening")])

        async def applied() -> bool:
            return await _count_timeline(engine, document_id) == 1

        await run_until(runner, None, applied, timeout_s=60)
        async with engine.connect() as conn:
            status = (
                await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))
            ).one()
        assert status[0] != "failed"
    finally:
        server.stop()


async def test_tries_the_database_could_not_count_never_dead_letter_the_event(
    settings: CommonSettings, engine: AsyncEngine, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database drops for the runner's check-ins and counts, and is there again for the dead
    letter: this process's own count of tries stood in for PostgreSQL's and dead-lettered documents
    as the database came back (the chaos test's outage, issue 18). A try the database did not
    count is not a reason to give up: the event is applied once its statements get through."""
    document_id = await new_document(engine)
    refused = {"check-ins": 3}  # the retries' check-ins (and every count while they fail) are refused
    calls: list[int] = []
    real_check_in = consumer_module.attempts.check_in

    async def check_in(*args: object, **kwargs: object) -> object:
        if refused["check-ins"]:
            refused["check-ins"] -= 1
            raise ConnectionRefusedError("the database dropped")
        return await real_check_in(*args, **kwargs)  # type: ignore[arg-type]

    async def failed(*args: object, **kwargs: object) -> object:
        raise ConnectionRefusedError("the database dropped while counting")

    monkeypatch.setattr(consumer_module.attempts, "check_in", check_in)
    monkeypatch.setattr(consumer_module.attempts, "failed", failed)

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionResetError("the database dropped mid-try")
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")

    await ensure_topics(settings, [topic, f"{topic}.dlq"], 1)
    await produce(settings.kafka_bootstrap, topic, [encode(received_event(document_id))])
    limited = settings.model_copy(update={"consumer_max_attempts": 2})
    runner = ConsumerRunner(engine, limited, f"group-{topic}", [Subscription(topic, handle, "screening")])

    async def settled() -> bool:
        async with engine.connect() as conn:
            status = (
                await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))
            ).scalar()
        return status == "failed" or await _count_timeline(engine, document_id) == 1

    await run_until(runner, None, settled)
    assert refused["check-ins"] == 0  # five tries in all: more than the limit of two
    assert await _count_timeline(engine, document_id) == 1 and len(calls) == 2
    async with engine.connect() as conn:
        status = (await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))).scalar()
    assert status != "failed"


async def test_a_committed_offset_past_the_end_of_the_log_reads_the_log_from_its_start(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    """A broker that restarted empty (Tansu keeps its log in memory) can be handed the offsets a
    consumer finished before the restart: a commit on revoke or at stop lands on the new broker.
    Fetching from past the end of the new log waits until the log grows that long; every event in
    between was skipped (the chaos test left documents at 'screened' and 'classified')."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    applied: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        applied.append(event.event_id)

    await ensure_topics(settings, [topic], 1)
    events = [received_event(await new_document(engine)) for _ in range(5)]
    await produce(settings.kafka_bootstrap, topic, [encode(event) for event in events])
    group = f"group-{topic}"
    stale = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await stale.start()
    try:
        stale.assign([TopicPartition(topic, 0)])
        await stale.commit({TopicPartition(topic, 0): 80})  # what the old broker's log had reached
    finally:
        await stale.stop()
    runner = ConsumerRunner(engine, settings, group, [Subscription(topic, handle, "test")])

    async def all_applied() -> bool:
        return len(applied) >= len(events)

    await run_until(runner, None, all_applied, timeout_s=30)
    assert sorted(applied) == sorted(event.event_id for event in events)
