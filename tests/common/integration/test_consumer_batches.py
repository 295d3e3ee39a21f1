"""Documents of one partition side by side (issue 18), on a real broker and PostgreSQL.

A slow document no longer holds up the others in its partition, one document's events stay in
order, and a runner stopped mid-batch commits no offset past a record it has not finished.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.consumer import ConsumerRunner, HandlerContext, Subscription
from mailintake_common.events import DocumentReceivedV1, Envelope
from mailintake_common.kafka import ensure_topics
from mailintake_common.outbox import encode
from mailintake_common.settings import CommonSettings
from tests.support.runner import new_document, received_event
from tests.support.stack import Infra


@pytest.fixture
def topic() -> str:
    return f"test.batches.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(infra: Infra) -> CommonSettings:
    return CommonSettings(
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1000,
        consumer_backoff_initial_s=0.01,
    )


async def produce(settings: CommonSettings, topic: str, events: list[Envelope[DocumentReceivedV1]]) -> None:
    """Each event keyed by its document, as the relay keys them: one partition here."""
    await ensure_topics(settings, [topic], 1)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, encode(event), key=event.document_id.encode())
    finally:
        await producer.stop()


async def committed(settings: CommonSettings, group: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


async def run_until(runner: ConsumerRunner, condition: Callable[[], Awaitable[bool] | bool], timeout_s: float = 40.0):
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                done = condition()
                if done if isinstance(done, bool) else await done:
                    return
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_slow_document_does_not_hold_up_the_next_ones_and_each_document_keeps_its_order(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    scan, letter = await new_document(engine), await new_document(engine)
    events = [received_event(document) for document in (scan, letter, letter, letter, scan)]
    label = {e.event_id: f"{'scan' if e.document_id == scan else 'letter'} {i}" for i, e in enumerate(events)}
    applied: list[str] = []
    letters_done = asyncio.Event()

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        if label[event.event_id] == "scan 0":
            await letters_done.wait()  # a long OCR: it ends only once the letters behind it are done
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")
        applied.append(label[event.event_id])
        if [a for a in applied if a.startswith("letter")] == ["letter 1", "letter 2", "letter 3"]:
            letters_done.set()

    await produce(settings, topic, events)
    group = f"group-{topic}"
    runner = ConsumerRunner(engine, settings, group, [Subscription(topic, handle, "test")])

    async def all_committed() -> bool:
        return len(applied) == 5 and await committed(settings, group, topic) == 5

    await run_until(runner, all_committed)
    # one record after another, the letters would wait for the scan, and the scan for them: a timeout
    assert applied == ["letter 1", "letter 2", "letter 3", "scan 0", "scan 4"]


async def test_a_runner_stopped_mid_batch_commits_nothing_past_an_unfinished_record(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    stuck, second, third = await new_document(engine), await new_document(engine), await new_document(engine)
    events = [received_event(stuck), received_event(second), received_event(third)]
    calls: dict[str, int] = {}
    never = asyncio.Event()
    hang = True

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        calls[event.document_id] = calls.get(event.document_id, 0) + 1
        if event.document_id == stuck and hang:
            await never.wait()  # the service is stopped while this one is still being read
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")
        calls[f"{event.document_id} applied"] = 1

    await produce(settings, topic, events)
    group = f"group-{topic}"
    first = ConsumerRunner(engine, settings, group, [Subscription(topic, handle, "test")])
    await run_until(first, lambda: f"{second} applied" in calls and f"{third} applied" in calls)
    assert f"{stuck} applied" not in calls
    # the two after it finished, but the first record did not: nothing may be committed past it
    assert await committed(settings, group, topic) in (None, 0)

    hang = False  # restarted: all three fetched again; the two applied are skipped by event id
    again = ConsumerRunner(engine, settings, group, [Subscription(topic, handle, "test")])

    async def all_committed() -> bool:
        return f"{stuck} applied" in calls and await committed(settings, group, topic) == 3

    await run_until(again, all_committed)
    assert calls == {
        stuck: 2,
        f"{stuck} applied": 1,
        second: 1,
        f"{second} applied": 1,
        third: 1,
        f"{third} applied": 1,
    }


async def test_offsets_are_committed_once_per_interval_while_records_keep_coming_and_at_once_when_idle(
    settings: CommonSettings, engine: AsyncEngine, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: one commit request per interval, not one per partition's batch; all that finished
    is committed as soon as the consumer has nothing to do. With the interval at 0, every batch
    commits as before (the same run counts both)."""
    requests: list[dict[TopicPartition, int]] = []
    real_commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: dict[TopicPartition, int] | None = None) -> None:
        requests.append(dict(offsets or {}))
        await real_commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    events = [received_event(await new_document(engine)) for _ in range(12)]
    await produce(settings, topic, events)
    applied: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")
        applied.append(event.event_id)

    for interval_ms, group in ((60_000, f"group-{topic}-interval"), (0, f"group-{topic}-each")):
        requests.clear()
        applied.clear()
        every_batch = settings.model_copy(update={"consumer_batch_size": 2, "consumer_commit_interval_ms": interval_ms})
        runner = ConsumerRunner(engine, every_batch, group, [Subscription(topic, handle, "test")])

        async def all_committed(group: str = group) -> bool:
            return len(applied) == 12 and await committed(settings, group, topic) == 12

        await run_until(runner, all_committed)
        assert sorted(applied) == sorted(e.event_id for e in events)
        if interval_ms:  # six batches of two, one commit once the topic ran dry (and one more if
            # a fetch came back empty mid-way): never one per batch
            assert 1 <= len(requests) <= 2, requests
            assert requests[-1] == {TopicPartition(topic, 0): 12}
        else:
            assert len(requests) >= 6, requests  # one per batch of two


async def test_a_slow_partition_does_not_hold_up_the_others(
    settings: CommonSettings, engine: AsyncEngine, topic: str
) -> None:
    """Each partition fetches its next records once its own batch is done (issue 18, session 13):
    a record that reaches partition 1 while partition 0's batch is still in its handler is applied
    at once. Before, the runner waited for every partition's batch before it fetched again."""
    await ensure_topics(settings, [topic], 2)
    slow, quick = await new_document(engine), await new_document(engine)
    applied: list[str] = []
    quick_done = asyncio.Event()
    slow_started = asyncio.Event()

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        if event.document_id == slow:
            slow_started.set()
            await asyncio.wait_for(quick_done.wait(), 30)  # held until the other partition's record is applied
        async with ctx.unit_of_work() as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")
        applied.append("slow" if event.document_id == slow else "quick")
        if event.document_id == quick:
            quick_done.set()

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode(received_event(slow)), partition=0)
        runner = ConsumerRunner(engine, settings, f"group-{topic}", [Subscription(topic, handle, "test")])
        task = asyncio.create_task(runner.run())
        try:
            async with asyncio.timeout(40):
                await slow_started.wait()  # partition 0's batch is in its handler
                await producer.send_and_wait(topic, encode(received_event(quick)), partition=1)
                while applied != ["quick", "slow"]:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await producer.stop()
    assert applied == ["quick", "slow"]
