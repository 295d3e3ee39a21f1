"""Consumer units of work that become ready together go to PostgreSQL together (issue 18).

On a real PostgreSQL: the first unit's statement is held in flight by a row lock the test takes
on its document, so the units that become ready meanwhile wait in its lane, and go together, in
one transaction, when it is over. Counted by the transaction ids the units took (each write
transaction takes one) and the outbox notifications that reach a listener (one per transaction).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from mailintake_common import details
from mailintake_common.consumer import AlreadyProcessed, HandlerContext
from mailintake_common.db import UnitOfWork
from mailintake_common.events import DocumentReceivedV1, Envelope
from mailintake_common.outbox import OUTBOX_CHANNEL
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents, outbox, processed_events, screening_details, timeline
from tests.support.runner import new_document, received_event
from tests.support.statements import warmed_engine

pytestmark = pytest.mark.slow

UNITS = 6  # units that become ready while the first one's statement is in flight


def settings_for(url: str, group: int) -> CommonSettings:
    return CommonSettings(database_url=url, db_pool_size=UNITS + 2, db_group_max_units=group)


@pytest.fixture
async def admin(counting_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(counting_database, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


@dataclass
class Unit:
    """One event applied by a stage's unit that only writes; what became of it."""

    document_id: str
    event: Envelope[DocumentReceivedV1]
    details_for: str = ""  # another document's id: refused when the writes go (a foreign key)
    backend: int = 0  # the server process behind the unit's connection
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def apply(self, engine: AsyncEngine, consumer: str, body: Callable[[UnitOfWork], Awaitable[None]]) -> None:
        ctx = HandlerContext(engine, consumer, self.event, trace_id=uuid.uuid4().hex)
        async with ctx.unit_of_work(claim_with_writes=True) as uow:
            await write(uow, self.document_id, self.details_for or self.document_id)
            driver: Any = uow.conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
            self.backend = driver.get_server_pid()  # no round trip
            await body(uow)
            self.ready.set()


async def write(uow: UnitOfWork, document_id: str, details_for: str) -> None:
    """A stage's writes: status, two timeline entries, details and two events."""
    await uow.documents.advance_later(document_id, "screened", result={"verdict": "clear", "findings": []})
    await uow.documents.add_timeline(document_id, "test", "first")
    await details.keep(uow.conn, details_for, details.ScreeningDetails(), uow.writes)
    await uow.outbox.add("test.group.a", received_event(document_id, "email"))
    await uow.documents.add_timeline(document_id, "test", "second")
    await uow.outbox.add("test.group.b", received_event(document_id, "email"))


async def nothing(uow: UnitOfWork) -> None:
    return None


async def new_units(engine: AsyncEngine, count: int) -> list[Unit]:
    units = []
    for _ in range(count):
        document_id = await new_document(engine, "email", "edc")
        units.append(Unit(document_id, received_event(document_id, "email")))
    return units


async def next_transaction_id(admin: AsyncEngine) -> int:
    async with admin.connect() as conn:  # reads it without taking one
        return int((await conn.execute(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))).scalar())


async def behind_a_held_unit(
    engine: AsyncEngine,
    admin: AsyncEngine,
    first: Unit,
    others: list[Unit],
    consumer: str,
    before_release: Callable[[], Awaitable[None]] | None = None,
) -> list[BaseException | None]:
    """Apply `first`, whose write statement waits on a row lock the test holds, then `others`,
    which become ready while it waits; release it. Each unit's exception, or None."""
    async with admin.connect() as lock:
        await lock.execute(text("BEGIN"))
        await lock.execute(
            select(documents.c.document_id).where(documents.c.document_id == first.document_id).with_for_update()
        )
        held = asyncio.create_task(first.apply(engine, consumer, nothing))
        await waiting_on_a_lock(admin)
        tasks = [asyncio.create_task(u.apply(engine, consumer, nothing)) for u in others]
        await asyncio.wait_for(asyncio.gather(*(u.ready.wait() for u in others)), 10)
        await asyncio.sleep(0.1)  # from the end of their bodies into the lane, no round trip between
        if before_release is not None:
            await before_release()
        await lock.execute(text("COMMIT"))
    done = await asyncio.gather(held, *tasks, return_exceptions=True)
    return [d if isinstance(d, BaseException) else None for d in done]


async def waiting_on_a_lock(admin: AsyncEngine) -> None:
    for _ in range(200):
        async with admin.connect() as conn:
            waiting = await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))
            if waiting.scalar():
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the first unit never waited on the held row")


async def state_of(engine: AsyncEngine, unit: Unit, consumer: str) -> dict[str, Any]:
    """What a unit left: status, timeline and events in id order, details, its claim."""
    async with engine.connect() as conn:
        doc = unit.document_id
        return {
            "status": (await conn.execute(select(documents.c.status).where(documents.c.document_id == doc))).scalar(),
            "timeline": (
                await conn.execute(
                    select(timeline.c.outcome).where(timeline.c.document_id == doc).order_by(timeline.c.id)
                )
            )
            .scalars()
            .all(),
            "events": (
                await conn.execute(select(outbox.c.topic).where(outbox.c.document_id == doc).order_by(outbox.c.id))
            )
            .scalars()
            .all(),
            "details": (
                await conn.execute(
                    select(screening_details.c.document_id).where(screening_details.c.document_id == doc)
                )
            )
            .scalars()
            .all()
            == [doc],
            "claimed": (
                await conn.execute(
                    select(processed_events.c.dead_lettered).where(
                        processed_events.c.consumer == consumer, processed_events.c.event_id == unit.event.event_id
                    )
                )
            )
            .scalars()
            .all(),
        }


APPLIED = {
    "status": "screened",
    "timeline": ["first", "second"],
    "events": ["test.group.a", "test.group.b"],
    "details": True,
    "claimed": [False],
}


@pytest.mark.parametrize("group", [16, 1], ids=["grouped", "each alone (MAILINTAKE_DB_GROUP_MAX_UNITS=1)"])
async def test_units_ready_while_one_is_in_flight_commit_together_in_one_transaction(
    counting_database: str, admin: AsyncEngine, group: int
) -> None:
    async with warmed_engine(settings_for(counting_database, group)) as engine:
        first, *others = await new_units(engine, UNITS + 1)
        listener = await asyncpg.connect(counting_database.replace("postgresql+asyncpg", "postgresql"))
        heard: list[str] = []
        await listener.add_listener(OUTBOX_CHANNEL, lambda *args: heard.append(args[1]))
        try:
            before = await next_transaction_id(admin)
            outcomes = await behind_a_held_unit(engine, admin, first, others, "group-count")
            transactions = await next_transaction_id(admin) - before - 1  # less the test's row lock
            await asyncio.sleep(0.2)  # the last notification's delivery
        finally:
            await listener.close()
        assert outcomes == [None] * (UNITS + 1)
        for unit in (first, *others):
            assert await state_of(engine, unit, "group-count") == APPLIED
    # grouped: the first alone, then the six that waited in one transaction (each alone: 7);
    # one notification per transaction reaches the relay's listener
    expected = 2 if group > 1 else UNITS + 1
    assert (transactions, len(heard)) == (expected, expected)


async def test_a_group_writes_what_the_same_units_sent_one_by_one_write(
    counting_database: str, admin: AsyncEngine
) -> None:
    states = []
    for group in (16, 1):
        async with warmed_engine(settings_for(counting_database, group)) as engine:
            first, *others = await new_units(engine, UNITS + 1)
            assert await behind_a_held_unit(engine, admin, first, others, f"group-same-{group}") == [None] * (UNITS + 1)
            states.append([await state_of(engine, u, f"group-same-{group}") for u in (first, *others)])
            if group == 1:
                continue  # sent at once, statements' ids may interleave
            async with engine.connect() as conn:  # grouped: each unit's rows in a run of ids of its own
                ids = (
                    (
                        await conn.execute(
                            select(outbox.c.document_id)
                            .where(outbox.c.document_id.in_([u.document_id for u in others]))
                            .order_by(outbox.c.id)
                        )
                    )
                    .scalars()
                    .all()
                )
            assert ids == [d for d in ids[::2] for _ in range(2)]
    assert states[0] == states[1] == [APPLIED] * (UNITS + 1)


async def test_a_claimed_event_in_a_group_is_refused_alone_and_the_others_are_written(
    counting_database: str, admin: AsyncEngine
) -> None:
    async with warmed_engine(settings_for(counting_database, 16)) as engine:
        first, *others = await new_units(engine, UNITS + 1)
        done = others[1]
        await done.apply(engine, "group-copy", nothing)  # applied before: its copy is refused
        before = await state_of(engine, done, "group-copy")
        copy = Unit(done.document_id, done.event)
        twice = Unit(others[2].document_id, others[2].event)  # two copies of one event in one lane
        rest = [u for u in others if u is not done]
        outcomes = await behind_a_held_unit(engine, admin, first, [*rest, copy, twice], "group-copy")
        assert [type(o) for o in outcomes].count(AlreadyProcessed) == 2, outcomes
        assert isinstance(outcomes[-2], AlreadyProcessed)  # the copy of the event applied before
        assert isinstance(outcomes[2], AlreadyProcessed) != isinstance(outcomes[-1], AlreadyProcessed)  # one of two
        assert await state_of(engine, done, "group-copy") == before
        for unit in (first, *rest):
            assert await state_of(engine, unit, "group-copy") == APPLIED


async def test_a_failing_unit_does_not_stop_the_others_in_its_group(counting_database: str, admin: AsyncEngine) -> None:
    async with warmed_engine(settings_for(counting_database, 16)) as engine:
        first, *others = await new_units(engine, UNITS + 1)
        failing = others[2]
        failing.details_for = uuid.uuid4().hex  # no such document: its details are refused
        before = await next_transaction_id(admin)
        outcomes = await behind_a_held_unit(engine, admin, first, others, "group-failing")
        transactions = await next_transaction_id(admin) - before - 1  # less the test's row lock
        assert [type(o) for o in outcomes] == [type(None)] * 3 + [IntegrityError] + [type(None)] * (UNITS - 3)
        for unit in (first, *others):
            state = await state_of(engine, unit, "group-failing")
            assert state == (APPLIED if unit is not failing else {**APPLIED, **NOTHING_WRITTEN})
    # the first; the group, taken back; each of the six alone (the failing one's too)
    assert transactions == 1 + 1 + UNITS


NOTHING_WRITTEN = {"status": "received", "timeline": [], "events": [], "details": False, "claimed": []}


async def test_a_group_on_dropped_connections_is_sent_again_on_fresh_ones(
    counting_database: str, admin: AsyncEngine
) -> None:
    async with warmed_engine(settings_for(counting_database, 16)) as engine:
        first, *others = await new_units(engine, UNITS + 1)

        async def drop_the_waiting_units_connections() -> None:
            async with admin.connect() as conn:
                for unit in others:
                    await conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": unit.backend})

        outcomes = await behind_a_held_unit(
            engine, admin, first, others, "group-dropped", before_release=drop_the_waiting_units_connections
        )
        assert outcomes == [None] * (UNITS + 1)
        for unit in (first, *others):
            assert await state_of(engine, unit, "group-dropped") == APPLIED
