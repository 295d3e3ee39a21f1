"""The outbox relay's wake-ups and its lock (issue 18), on a PostgreSQL and broker of the test's own.

The relay publishes when a committed transaction notifies it; its fallback poll is slow (each
idle round is a query), so anything that adds outbox rows must notify, and a relay that fails
must not leave the election lock behind in a pooled connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import outbox as outbox_module
from mailintake_common import relay_listening
from mailintake_common.db import make_engine, reading, unit_of_work
from mailintake_common.events import TOPIC_RECEIVED, DocumentReceivedV1, new_event
from mailintake_common.kafka import ensure_topics
from mailintake_common.outbox import Relay
from mailintake_common.reconciler import reconcile_once
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import outbox
from tests.support.kafka import read_topic
from tests.support.stack import Infra

HOUR = 3600.0


@pytest.fixture
def settings(fresh_infra: Infra) -> CommonSettings:
    # A fallback poll of an hour: whatever is published within the test was woken by a notification.
    return CommonSettings(
        database_url=fresh_infra.database_url,
        kafka_bootstrap=fresh_infra.bootstrap,
        relay_fallback_poll_interval_s=HOUR,
        relay_standby_retry_s=0.2,
    )


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await condition():
            await asyncio.sleep(0.1)


async def unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).where(outbox.c.published_at.is_(None)))).scalar_one())


async def received(engine: AsyncEngine, topic: str) -> str:
    """A new document and its `received` event in the outbox, committed together."""
    document_id = uuid.uuid4().hex
    payload = DocumentReceivedV1(channel="webform", received_at=datetime.now(UTC), parts=[])
    async with unit_of_work(engine) as uow:
        await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
        await uow.outbox.add(topic, new_event(document_id, payload))
    return document_id


async def leading(relay: Relay) -> asyncio.Task[None]:
    """The relay running, elected, and past its first round (from here only a wake-up publishes)."""
    task = asyncio.create_task(relay.run())

    async def elected() -> bool:
        return relay.is_leader

    await eventually(elected)
    await asyncio.sleep(1.0)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_committed_event_is_published_on_its_notification_not_the_fallback_poll(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    await ensure_topics(settings, [TOPIC_RECEIVED])
    task = await leading(Relay(engine, settings))
    try:
        await received(engine, TOPIC_RECEIVED)

        async def published() -> bool:
            return await unpublished(engine) == 0

        await eventually(published)
    finally:
        await stop(task)


async def test_a_reconciler_republication_wakes_the_relay(settings: CommonSettings, engine: AsyncEngine) -> None:
    await ensure_topics(settings, [TOPIC_RECEIVED])
    document_id = await received(engine, TOPIC_RECEIVED)
    async with engine.begin() as conn:  # published, then lost by the broker: the document is stuck
        await conn.execute(update(outbox).values(published_at=func.now()))
    task = await leading(Relay(engine, settings))
    try:
        assert await reconcile_once(engine, stuck_after_s=0.0) == 1
        async with engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).where(outbox.c.document_id == document_id))).scalar_one()
        assert rows == 2

        async def republished() -> bool:
            return await unpublished(engine) == 0

        await eventually(republished)
    finally:
        await stop(task)


class FailsOnce(Relay):
    """A relay whose first round fails with its lock connection still healthy (a statement error)."""

    failed = False

    async def publish_once(self, conn: AsyncConnection | None = None, *, defer_stamp: bool = False) -> int:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a statement failed")
        return await super().publish_once(conn, defer_stamp=defer_stamp)


async def test_a_relay_that_fails_frees_the_lock_for_another(settings: CommonSettings, engine: AsyncEngine) -> None:
    failing = FailsOnce(engine, settings)
    first = asyncio.create_task(failing.run())

    async def failed() -> bool:
        return failing.failed and not failing.is_leader

    await eventually(failed)
    await stop(first)  # its engine (and pool) lives on, as in a process whose relay paused
    other_engine = make_engine(settings)
    other = Relay(other_engine, settings)
    second = asyncio.create_task(other.run())
    try:

        async def elected() -> bool:
            return other.is_leader

        await eventually(elected)
    finally:
        await stop(second)
        await other_engine.dispose()


async def test_a_relay_whose_lock_connection_is_cut_is_elected_again_and_publishes(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    await ensure_topics(settings, [TOPIC_RECEIVED])
    relay = Relay(engine, settings)
    task = await leading(relay)
    try:
        async with engine.connect() as conn:  # as a database restart or a dropped connection would
            cut = await conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"))
            assert cut.all() == [(True,)]
        await asyncio.sleep(1.5)  # the relay sees its session end and takes the lock again
        await received(engine, TOPIC_RECEIVED)

        async def published() -> bool:
            return await unpublished(engine) == 0

        await eventually(published)
        assert relay.is_leader
    finally:
        await stop(task)


async def statements_on(conn: AsyncConnection) -> list[str]:
    """The statements `conn` sends from now on, as the driver sees them (asyncpg's query logger:
    the relay's rounds run on the driver connection, below SQLAlchemy's events)."""
    sent: list[str] = []
    driver: Any = (await conn.get_raw_connection()).driver_connection
    driver.add_query_logger(lambda logged: sent.append(logged.query))
    return sent


async def stamped(engine: AsyncEngine, document_ids: list[str]) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(outbox.c.document_id.in_(document_ids), outbox.c.published_at.is_not(None))
        return int((await conn.execute(query)).scalar_one())


async def test_a_round_stamps_the_rows_the_previous_round_sent_in_its_own_statement(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    """Issue 18, session 8: a relay round that follows another is one statement, not two."""
    await ensure_topics(settings, [TOPIC_RECEIVED])
    relay = Relay(engine, settings)
    first = [await received(engine, TOPIC_RECEIVED) for _ in range(3)]
    async with reading(engine) as conn:
        assert await relay.publish_once(conn, defer_stamp=True) == 3
        assert await stamped(engine, first) == 0  # acknowledged, waiting for the next statement
        second = [await received(engine, TOPIC_RECEIVED) for _ in range(2)]
        sent = await statements_on(conn)
        assert await relay.publish_once(conn, defer_stamp=True) == 2  # not the first three again
        await asyncio.sleep(0)
        assert len(sent) == 1
        assert await stamped(engine, first) == 3
        assert await stamped(engine, second) == 0
        await relay.stamp(conn)
        await relay.stamp(conn)  # nothing left waiting: no statement
        await asyncio.sleep(0)  # asyncpg calls its query loggers soon after, not at once
        assert len(sent) == 2
    assert await stamped(engine, second) == 2
    assert await unpublished(engine) == 0


async def test_a_stamp_on_a_dropped_connection_fails_as_sqlalchemys_would_and_the_rows_are_sent_again(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    """Session 10: the relay's statements run on the driver connection. A connection dropped
    between a round and its stamp raises SQLAlchemy's error with the connection invalidated (the
    relay then lets go and is elected again); the acknowledged rows stay unstamped and are sent
    again (at least once)."""
    await ensure_topics(settings, [TOPIC_RECEIVED])
    relay = Relay(engine, settings)
    ids = [await received(engine, TOPIC_RECEIVED) for _ in range(2)]
    async with reading(engine) as conn:
        assert await relay.publish_once(conn, defer_stamp=True) == 2
        backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        with pytest.raises(DBAPIError) as failed:
            await relay.stamp(conn)
        assert failed.value.connection_invalidated and conn.invalidated
    assert await stamped(engine, ids) == 0
    assert await Relay(engine, settings).publish_once() == 2  # the next leader sends them again
    assert await stamped(engine, ids) == 2


async def test_called_alone_a_round_stamps_what_it_sent(settings: CommonSettings, engine: AsyncEngine) -> None:
    await ensure_topics(settings, [TOPIC_RECEIVED])
    ids = [await received(engine, TOPIC_RECEIVED) for _ in range(2)]
    assert await Relay(engine, settings).publish_once() == 2
    assert await stamped(engine, ids) == 2


async def test_each_event_is_published_once_across_a_relay_restart(
    settings: CommonSettings, engine: AsyncEngine, fresh_infra: Infra
) -> None:
    """A stopped relay stamps what the broker acknowledged before it lets go: the next one
    starts after it instead of sending those rows again."""
    await ensure_topics(settings, [TOPIC_RECEIVED])
    posted: list[str] = []
    for _ in range(2):
        task = await leading(Relay(engine, settings))
        try:
            for _ in range(5):
                posted.append(await received(engine, TOPIC_RECEIVED))
                await asyncio.sleep(0.05)

            async def published() -> bool:
                return await unpublished(engine) == 0

            await eventually(published)
        finally:
            await stop(task)
    values = await read_topic(fresh_infra.bootstrap, TOPIC_RECEIVED, lambda seen: len(seen) >= len(posted))
    await asyncio.sleep(1.0)  # anything sent twice would be there by now
    values = await read_topic(fresh_infra.bootstrap, TOPIC_RECEIVED, lambda seen: len(seen) >= len(posted))
    assert sorted(v["document_id"] for v in values) == sorted(posted)


async def test_the_relay_finds_rows_by_index_and_leaves_no_setting_or_lock_behind(settings: CommonSettings) -> None:
    """Its session finds rows by index only (a plan kept from when the outbox was small read the
    whole table for each stamp); stopped while its engine lives on, the relay's connection is
    closed, so neither the setting nor the election lock stays in the pool."""
    engine = make_engine(settings.model_copy(update={"db_pool_size": 1}))
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda _c, _cur, sql, *_: sent.append(sql))
    try:
        await stop(await leading(Relay(engine, settings)))
        assert "SET enable_seqscan = off" in sent
        async with engine.connect() as conn:  # the pool's one connection
            held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            assert (await conn.execute(held)).scalar_one() == 0
            assert (await conn.execute(text("SHOW enable_seqscan"))).scalar_one() == "on"
    finally:
        await engine.dispose()


async def test_a_late_stamp_does_not_move_a_row_another_relay_stamped(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    """The feed reads published rows by (publication time, id): a stamp never moves one."""
    await ensure_topics(settings, [TOPIC_RECEIVED])
    relay = Relay(engine, settings)
    document_id = await received(engine, TOPIC_RECEIVED)
    earlier = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    async with reading(engine) as conn:
        assert await relay.publish_once(conn, defer_stamp=True) == 1
        async with engine.begin() as other:  # another relay sent and stamped it meanwhile
            await other.execute(update(outbox).where(outbox.c.document_id == document_id).values(published_at=earlier))
        await relay.stamp(conn)
        stamped_at = select(outbox.c.published_at).where(outbox.c.document_id == document_id)
        assert (await conn.execute(stamped_at)).scalar_one() == earlier


class RecordedListening(relay_listening.Listening):
    """The relay's listening, recording each switch; on the way back it commits a row just before
    its LISTEN: that row's notification reaches nobody."""

    engine: AsyncEngine
    switches: list[str]
    around_listen: list[str]

    async def pause(self) -> None:
        await super().pause()
        self.switches.append("unlisten")

    async def resume(self) -> None:
        self.around_listen.append(await received(self.engine, TOPIC_RECEIVED))
        await super().resume()
        self.switches.append("listen")


async def test_a_busy_relay_stops_listening_and_listens_again_without_losing_a_row(
    settings: CommonSettings, engine: AsyncEngine, fresh_infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, session 9: after busy rounds in a row the relay stops listening and runs its rounds
    back to back; an empty round makes it listen again and run one more round, so a row committed
    just before its LISTEN (no notification reaches it, and the fallback poll is an hour) is still
    published, as is one committed after it, and each row once."""
    await ensure_topics(settings, [TOPIC_RECEIVED])
    switches: list[str] = []
    around_listen: list[str] = []
    recorded = type(
        "Recorded", (RecordedListening,), {"engine": engine, "switches": switches, "around_listen": around_listen}
    )
    monkeypatch.setattr(outbox_module, "Listening", recorded)
    busy = settings.model_copy(update={"relay_batch_size": 2, "relay_busy_rounds_before_unlisten": 2})
    backlog = [await received(engine, TOPIC_RECEIVED) for _ in range(9)]  # rounds of 2: busy at once
    relay = Relay(engine, busy)
    task = asyncio.create_task(relay.run())
    try:

        async def published() -> bool:
            return len(around_listen) == 1 and await unpublished(engine) == 0

        await eventually(published)
        assert switches == ["unlisten", "listen"]
        later = await received(engine, TOPIC_RECEIVED)  # listening again: its notification wakes the relay
        await eventually(published)
    finally:
        await stop(task)
    posted = [*backlog, *around_listen, later]
    values = await read_topic(fresh_infra.bootstrap, TOPIC_RECEIVED, lambda seen: len(seen) >= len(posted))
    await asyncio.sleep(1.0)  # anything sent twice would be there by now
    values = await read_topic(fresh_infra.bootstrap, TOPIC_RECEIVED, lambda seen: len(seen) >= len(posted))
    assert sorted(v["document_id"] for v in values) == sorted(posted)


async def test_a_relay_set_to_always_listen_never_stops(
    settings: CommonSettings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_topics(settings, [TOPIC_RECEIVED])
    switches: list[str] = []
    recorded = type("Recorded", (RecordedListening,), {"engine": engine, "switches": switches, "around_listen": []})
    monkeypatch.setattr(outbox_module, "Listening", recorded)
    always = settings.model_copy(update={"relay_batch_size": 2, "relay_busy_rounds_before_unlisten": 0})
    for _ in range(9):
        await received(engine, TOPIC_RECEIVED)
    task = asyncio.create_task(Relay(engine, always).run())
    try:

        async def published() -> bool:
            return await unpublished(engine) == 0

        await eventually(published)
    finally:
        await stop(task)
    assert switches == []
