"""A pooled connection the server dropped is replaced, not used (issue 18).

The pool no longer pings before every checkout. A backend terminated with
`pg_terminate_backend` (what a server restart or an administrator does) must still cost nothing
but a fresh connection: the checkout refuses a connection the driver saw closed, and the
statement that opens a transaction runs again once on a fresh connection when the pooled one
was dead before the driver noticed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from mailintake_common import attempts, db
from mailintake_common.consumer import ConsumerRunner, HandlerContext, Subscription
from mailintake_common.db import make_engine
from mailintake_common.events import DocumentReceivedV1, Envelope, new_event
from mailintake_common.outbox import encode
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents, processed_events, timeline
from tests.factories.documents import email_bytes
from tests.support.runner import new_document, received_event
from tests.support.stack import ADMIN_KEY, Infra, Service, make_service


@pytest.fixture
async def engine(infra: Infra) -> AsyncIterator[AsyncEngine]:
    settings = CommonSettings(database_url=infra.database_url, kafka_bootstrap=infra.bootstrap, db_pool_size=1)
    engine = make_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def admin(infra: Infra) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(infra.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    yield engine
    await engine.dispose()


async def pooled_backend(engine: AsyncEngine) -> int:
    """The server process behind the pool's one connection (it goes back to the pool)."""
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(admin: AsyncEngine, pids: list[int]) -> None:
    """Terminate those backends and wait until the server no longer lists them."""
    async with admin.connect() as conn:
        for pid in pids:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        deadline = time.monotonic() + 10
        while (
            await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": pids})
        ).scalar_one():
            assert time.monotonic() < deadline, "the backends did not go"
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the client's event loop reads the server's goodbye


def without_checkout_check(engine: AsyncEngine) -> None:
    """As if the driver had not yet seen the connection close: only the retry can help."""
    event.remove(engine.sync_engine, "checkout", db._refuse_closed)


async def test_a_terminated_pooled_connection_is_replaced_at_checkout(engine: AsyncEngine, admin: AsyncEngine) -> None:
    before = await pooled_backend(engine)
    await terminate(admin, [before])
    document_id = await new_document(engine)  # a route's unit of work: its first statement is its own
    assert await pooled_backend(engine) != before
    async with engine.connect() as conn:
        assert (await conn.execute(select(documents.c.status).where(documents.c.document_id == document_id))).one()


async def test_without_the_retry_a_dead_pooled_connection_fails_its_first_statement(
    engine: AsyncEngine, admin: AsyncEngine
) -> None:
    """The premise of the next test: the pool alone would hand out the dead connection."""
    without_checkout_check(engine)
    await terminate(admin, [await pooled_backend(engine)])
    with pytest.raises(DBAPIError) as failed:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated


async def test_the_runner_and_the_unit_of_work_run_their_first_statement_again_on_a_fresh_connection(
    engine: AsyncEngine, admin: AsyncEngine
) -> None:
    without_checkout_check(engine)
    document_id = await new_document(engine)
    received = new_event(document_id, DocumentReceivedV1(channel="webform", received_at=datetime.now(UTC), parts=[]))
    consumer = f"group-{uuid.uuid4().hex[:8]}"

    await terminate(admin, [await pooled_backend(engine)])
    marker, tally = await attempts.check_in(engine, consumer, received.event_id, document_id)
    assert marker is None and tally == attempts.Tally(1, 0)

    await terminate(admin, [await pooled_backend(engine)])
    ctx = HandlerContext(engine, consumer, received, trace_id=uuid.uuid4().hex)
    async with ctx.unit_of_work() as uow:
        await uow.documents.add_timeline(document_id, "test", "applied")
    async with engine.connect() as conn:
        claimed = (
            await conn.execute(
                select(processed_events.c.dead_lettered).where(
                    processed_events.c.consumer == consumer, processed_events.c.event_id == received.event_id
                )
            )
        ).one()
    assert claimed.dead_lettered is False
    assert await attempts.read(engine, consumer, received.event_id) is None  # forgotten with the claim

    await terminate(admin, [await pooled_backend(engine)])
    tally = await attempts.failed(engine, consumer, received.event_id, "ValueError", worker_lost=False)
    assert tally.last_error == "ValueError"


def pooled_backends(engine: AsyncEngine) -> list[int]:
    """Every server process the engine's pool connected to from now on (they stay listed)."""
    pids: list[int] = []

    def connected(conn: Any, record: Any) -> None:
        pids.append(conn.driver_connection.get_server_pid())

    event.listen(engine.sync_engine, "connect", connected)
    return pids


async def test_a_batch_recovers_when_its_pooled_connections_are_dropped_before_it_and_mid_way(
    engine: AsyncEngine, admin: AsyncEngine
) -> None:
    """The batch's check-in and each event's one statement meet dead connections (the driver has
    not noticed yet): each runs again on a fresh one; every event is applied once, none fails."""
    without_checkout_check(engine)
    pids = pooled_backends(engine)
    settings = CommonSettings(database_url="unused", consumer_documents_per_partition=1)
    docs = [await new_document(engine) for _ in range(4)]
    events = [received_event(doc) for doc in docs]
    applied: list[str] = []
    tries: list[str] = []

    async def handle(event: Envelope[DocumentReceivedV1], ctx: HandlerContext[DocumentReceivedV1]) -> None:
        tries.append(event.document_id)
        async with ctx.unit_of_work(claim_with_writes=True) as uow:
            await uow.documents.add_timeline(event.document_id, "test", "applied")
        applied.append(event.document_id)
        if len(applied) == 2:  # the server drops the pool's connections mid-batch
            await terminate(admin, list(pids))

    group = f"group-{uuid.uuid4().hex[:8]}"
    runner = ConsumerRunner(engine, settings, group, [Subscription("test.dropped", handle, "test")])
    records = []
    for offset, received in enumerate(events):
        value, key = encode(received), received.document_id.encode()
        records.append(ConsumerRecord("test.dropped", 0, offset, 0, 0, key, value, None, len(key), len(value), []))
    await terminate(admin, list(pids))  # and before the batch's check-in
    finished: dict[TopicPartition, int] = {}
    await runner.apply_batch(TopicPartition("test.dropped", 0), records, finished)
    assert tries == applied == docs  # each once, in order, none tried again
    assert finished == {TopicPartition("test.dropped", 0): 4}
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(timeline.c.document_id).where(timeline.c.document_id.in_(docs), timeline.c.outcome == "applied")
        )
        assert sorted(r.document_id for r in rows) == sorted(docs)
        claimed = await conn.execute(select(func.count()).where(processed_events.c.consumer == group))
        assert claimed.scalar_one() == 4
    for received in events:
        assert await attempts.read(engine, group, received.event_id) is None  # no failure counted


@pytest.fixture
def intake_and_quarantine(fresh_infra: Infra, tmp_path: Path) -> Iterator[dict[str, Service]]:
    running = {name: make_service(fresh_infra, name, tmp_path) for name in ("intake", "quarantine")}
    for service in running.values():
        service.start(wait_ready=False)
    for service in running.values():
        service.wait_ready()
    yield running
    for service in running.values():
        service.stop()


async def test_services_answer_and_consume_after_their_pooled_connections_are_terminated(
    intake_and_quarantine: dict[str, Service], fresh_infra: Infra
) -> None:
    intake, quarantine = intake_and_quarantine["intake"], intake_and_quarantine["quarantine"]
    letters = [
        email_bytes(
            subject="New bank details",
            body="Hello, my payments should now go into my new account; the old one closes on Friday. Thanks, Sam",
        ),
        email_bytes(
            subject="Re: New bank details",
            body="Sorry, one more thing: I forgot to say my mobile number changed too. It's on the form. Sam",
        ),
    ]
    admin = create_async_engine(fresh_infra.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with httpx.AsyncClient(base_url=intake.base_url, headers={"X-API-Key": ADMIN_KEY}, timeout=30) as http:

            async def post(letter: bytes) -> str:
                response = await http.post(
                    "/v1/emails?mailbox=edc", content=letter, headers={"Content-Type": "message/rfc822"}
                )
                assert response.status_code == 202, response.text
                return str(response.json()["document_id"])

            async def screened(document_id: str) -> None:
                deadline = time.monotonic() + 60
                while (await http.get(f"/v1/documents/{document_id}")).json().get("status") == "received":
                    assert time.monotonic() < deadline, "not screened"
                    await asyncio.sleep(0.2)

            await screened(await post(letters[0]))  # both services hold pooled connections now
            async with admin.connect() as conn:
                pids = list(
                    (
                        await conn.execute(
                            text(
                                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                            )
                        )
                    ).scalars()
                )
            assert pids
            quarantine_log_before = quarantine.log_path.read_text()
            await terminate(admin, pids)
            await screened(await post(letters[1]))
    finally:
        await admin.dispose()
    new_lines = quarantine.log_path.read_text()[len(quarantine_log_before) :]
    assert "handler failed" not in new_lines  # the event's first try succeeded
