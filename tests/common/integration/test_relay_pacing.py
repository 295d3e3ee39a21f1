"""A busy relay's rounds paced by `relay_busy_round_interval_ms` (issue 18, session 12), on a
PostgreSQL and broker of the test's own: while rows keep coming, the next round starts no sooner
than the interval after the last one started, so each round carries more rows; a full round
(a backlog) goes on at once; a row committed to an idle relay is published on its notification,
not after the interval; and every row is published once.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common.events import TOPIC_RECEIVED
from mailintake_common.kafka import ensure_topics
from mailintake_common.outbox import Relay
from mailintake_common.settings import CommonSettings
from tests.common.integration.test_relay import eventually, leading, received, stop, unpublished
from tests.support.kafka import read_topic
from tests.support.stack import Infra


@pytest.fixture
def settings(fresh_infra: Infra) -> CommonSettings:
    return CommonSettings(
        database_url=fresh_infra.database_url,
        kafka_bootstrap=fresh_infra.bootstrap,
        relay_fallback_poll_interval_s=3600.0,  # whatever is published was woken by a notification
        relay_busy_round_interval_ms=300.0,
    )


class Timed(Relay):
    """A relay that notes when each of its rounds started and how many rows it sent."""

    rounds: list[tuple[float, int]]

    async def publish_once(self, conn: AsyncConnection | None = None, *, defer_stamp: bool = False) -> int:
        started = time.monotonic()
        sent = await super().publish_once(conn, defer_stamp=defer_stamp)
        self.rounds.append((started, sent))
        return sent


def timed(engine: AsyncEngine, settings: CommonSettings) -> Timed:
    relay = Timed(engine, settings)
    relay.rounds = []
    return relay


async def all_published(engine: AsyncEngine) -> None:
    async def published() -> bool:
        return await unpublished(engine) == 0

    await eventually(published)


async def test_while_rows_keep_coming_a_round_starts_no_sooner_than_the_interval_after_the_last(
    settings: CommonSettings, engine: AsyncEngine, fresh_infra: Infra
) -> None:
    """Four writers commit rows one after another for two seconds, so every round finds more and
    more come while it runs (busy); from the second round on the relay is no longer listening
    (`relay_busy_rounds_before_unlisten` 1), where a round that sent rows is always followed by
    another: each of those starts the interval after the last one started."""
    await ensure_topics(settings, [TOPIC_RECEIVED])
    never_full = {"relay_busy_rounds_before_unlisten": 1, "relay_batch_size": 1_000_000}  # a full round is not paced
    relay = timed(engine, settings.model_copy(update=never_full))
    task = await leading(relay)
    posted: list[str] = []
    until = time.monotonic() + 2.0

    async def writer() -> None:
        while time.monotonic() < until:
            posted.append(await received(engine, TOPIC_RECEIVED))

    try:
        relay.rounds.clear()
        await asyncio.gather(*(writer() for _ in range(4)))
        await all_published(engine)
    finally:
        await stop(task)
    while_busy = [r for r in relay.rounds if r[0] < until - 0.05][1:]  # the first followed a notification
    assert len(posted) > 2 * len(while_busy) and len(while_busy) >= 4
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(while_busy)]
    assert min(gaps) >= 0.3 - 0.01  # back to back, rounds were milliseconds apart
    values = await read_topic(fresh_infra.bootstrap, TOPIC_RECEIVED, lambda seen: len(seen) >= len(posted))
    await asyncio.sleep(1.0)  # anything sent twice would be there by now
    values = await read_topic(fresh_infra.bootstrap, TOPIC_RECEIVED, lambda seen: len(seen) >= len(posted))
    assert sorted(v["document_id"] for v in values) == sorted(posted)


async def test_a_full_round_is_followed_at_once(settings: CommonSettings, engine: AsyncEngine) -> None:
    """A backlog: rounds of `relay_batch_size` rows are not paced (10 of them at 1 s would take 10 s)."""
    await ensure_topics(settings, [TOPIC_RECEIVED])
    paced = settings.model_copy(update={"relay_batch_size": 3, "relay_busy_round_interval_ms": 1000.0})
    for _ in range(30):
        await received(engine, TOPIC_RECEIVED)
    relay = timed(engine, paced)
    started = time.monotonic()
    task = asyncio.create_task(relay.run())
    try:
        await all_published(engine)
    finally:
        await stop(task)
    full = [r for r in relay.rounds if r[1] == 3]
    assert len(full) == 10
    assert full[-1][0] - full[0][0] < 1.0 and time.monotonic() - started < 5.0


async def test_a_row_committed_to_an_idle_relay_is_published_on_its_notification_not_after_the_interval(
    settings: CommonSettings, engine: AsyncEngine
) -> None:
    await ensure_topics(settings, [TOPIC_RECEIVED])
    idle = settings.model_copy(update={"relay_busy_round_interval_ms": 5000.0})
    relay = timed(engine, idle)
    task = await leading(relay)
    try:
        for _ in range(2):  # each alone: the relay is idle (its last round found nothing) when it comes
            committed = time.monotonic()
            await received(engine, TOPIC_RECEIVED)
            await all_published(engine)
            assert time.monotonic() - committed < 2.0
            await asyncio.sleep(0.3)
    finally:
        await stop(task)
