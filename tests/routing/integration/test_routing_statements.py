"""Routing's unit of work in few statements, and its guarantee against directory changes (issue 18).

Counted on a real PostgreSQL (pg_stat_statements): routing an e-mail whose sender is a
customer and whose domain is an employer's takes its batch's check-in (which brings the
classifier's details), one autocommitted statement for the duplicate check, every directory
look-up and the directory's version, and one autocommitted write statement with the claim
(session 10: no BEGIN or COMMIT). The claim with the writes keeps its guarantees: an event id
claimed before changes nothing, and a dead pooled connection under the look-up costs a fresh
connection, not a try.

The write statement writes nothing, and the routing looks again, when the directory changed
since its look-up (its version, bumped by every upsert), and it takes the lock a directory
upsert holds (on `awaiting_identity`) before its snapshot, so a directory upsert that changes a
customer's RACS level never leaves a routed item at the old level: an upsert racing a routing
whose write statement is under way waits for it to commit and then re-levels its item; a
routing racing an upsert that already changed the customer looks again and reads the new level.
Likewise an item that waits to be identified is never missed by a directory change racing its
routing (issue 14): the change waits for the routing and identifies it again, or the routing
finds the new record. Each race is forced with row locks the test holds, or by committing the
change from inside the routing (never with timing).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from mailintake_common import db, details
from mailintake_common.consumer import ConsumerRunner, Subscription, parse_record
from mailintake_common.db import reading, unit_of_work
from mailintake_common.events import (
    TOPIC_CLASSIFIED,
    DocumentClassifiedV1,
    EmailFacts,
    Identifiers,
    new_event,
)
from mailintake_common.handler_context import AlreadyProcessed, HandlerContext
from mailintake_common.outbox import encode
from mailintake_common.tables import documents, processed_events
from mailintake_routing import commands
from mailintake_routing.adapters import lookup, queues
from mailintake_routing.adapters.tables import awaiting_identity, queue_items, seen_content
from mailintake_routing.handlers import LOOKS_AFTER_A_DIRECTORY_CHANGE, make_handler
from mailintake_routing.settings import RoutingSettings
from tests.support.statements import by_kind, statements_during, warmed_engine

pytestmark = pytest.mark.slow

WAIT_S = 30.0  # how long a race may take to reach its lock wait on a loaded machine (not a timing check)


@pytest.fixture
def settings(counting_database: str) -> RoutingSettings:
    return RoutingSettings(database_url=counting_database, consumer_max_attempts=2, consumer_backoff_initial_s=0.01)


@pytest.fixture
async def engine(settings: RoutingSettings) -> AsyncIterator[AsyncEngine]:
    async with warmed_engine(settings) as engine:
        yield engine


def customer(racs_level: int = 0) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    crn = f"{uuid.uuid4().int % 10**9:09d}K"
    return {
        "customer_id": f"CUST-{tag}",
        "crn": crn,
        "given_name": "Robin",
        "family_name": f"Ashdown{tag}",
        "date_of_birth": date(1984, 6, 30),
        "emails": [f"robin.{tag}@example.net"],
        "racs_level": racs_level,
    }


def employer() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "organisation_id": f"ORG-{tag}",
        "name": f"Harbourside Joinery {tag} Pty Ltd",
        "abn": None,
        "email_domains": [f"joinery-{tag}.example.com"],
        "sender_addresses": [],
        "kind": "employer",
        "secure_messaging": False,
        "in_liquidation": False,
    }


async def classified(engine: AsyncEngine, sender: str) -> ConsumerRecord:
    """A document the classifier read (details in their table, as it writes them) and its v2 event."""
    return await kept(
        engine,
        DocumentClassifiedV1(
            channel="email",
            received_at=datetime.now(UTC),
            mailbox="edc",
            verdict="clear",
            document_type="change_of_circumstances",
            confidence=0.9,
            content_sha256=uuid.uuid4().hex * 2,
            email=EmailFacts(from_address=sender, subject="I have started a new job"),
            identifiers=Identifiers(emails=[sender]),
        ),
    )


async def kept(engine: AsyncEngine, whole: DocumentClassifiedV1) -> ConsumerRecord:
    """The document, its details as the classifier keeps them, and its v2 event."""
    document_id = uuid.uuid4().hex
    event_payload, found = details.split_classified(whole)
    async with unit_of_work(engine) as uow:
        await uow.documents.create(
            document_id, channel=whole.channel, received_at=whole.received_at, mailbox=whole.mailbox
        )
        await details.keep(uow.conn, document_id, found, uow.writes)
    event = new_event(document_id, event_payload)
    value, key = encode(event), document_id.encode()
    return ConsumerRecord(TOPIC_CLASSIFIED, 0, 0, 0, 0, key, value, None, len(key), len(value), ())


def runner(engine: AsyncEngine, settings: RoutingSettings) -> ConsumerRunner:
    return ConsumerRunner(
        engine, settings, "routing", [Subscription(TOPIC_CLASSIFIED, make_handler(settings), "routing")]
    )


async def item_of(engine: AsyncEngine, document_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(queue_items).where(queue_items.c.document_id == document_id))).mappings()
        item = dict(row.one())
        level = select(documents.c.racs_level).where(documents.c.document_id == document_id)
        item["document_racs_level"] = (await conn.execute(level)).scalar_one()
        return item


async def details_of(engine: AsyncEngine, document_id: str) -> details.ClassificationDetails:
    """What the batch's check-in would have brought the handler."""
    async with engine.connect() as conn:
        return await details.read(conn, document_id, details.ClassificationDetails)


async def applied(consumer: ConsumerRunner, record: ConsumerRecord) -> str:
    """As the runner applies a partition's batch: checked in with the classifier's details, so
    the handler's first statement is its look-up, which carries the claim. The outcome."""
    await consumer.apply_batch(TopicPartition(record.topic, record.partition), [record], {})
    event_id = parse_record(record).event_id
    async with reading(consumer.engine) as conn:
        marker = select(processed_events.c.dead_lettered).where(
            processed_events.c.consumer == consumer.group, processed_events.c.event_id == event_id
        )
        dead_lettered = (await conn.execute(marker)).scalar_one_or_none()
    return {None: "not applied", False: "applied", True: "dead-lettered"}[dead_lettered]


async def routing_statements(
    counting_database: str, engine: AsyncEngine, settings: RoutingSettings, record: ConsumerRecord
) -> Counter[str]:
    """The statements one record's routing ran (it must be applied), without `applied()`'s read."""
    consumer = runner(engine, settings)
    outcomes: list[str] = []

    async def route() -> None:
        outcomes.append(await applied(consumer, record))

    counted = await statements_during(counting_database, route)
    assert outcomes == ["applied"]
    return Counter({q: n for q, n in counted.items() if "processed_events.dead_lettered" not in q})


async def test_routing_an_email_takes_one_look_up_and_one_write_statement_without_begin_or_commit(
    counting_database: str, settings: RoutingSettings, engine: AsyncEngine
) -> None:
    """The look-up (duplicate check, every directory look-up, the directory's version) is
    autocommitted; the claim goes with the writes, which remember the content key and check the
    directory's version in the same statement (session 10)."""
    person, company = customer(), employer()
    await commands.upsert_customers(engine, [person], settings)
    await commands.upsert_organisations(engine, [company], settings)
    record = await classified(engine, person["emails"][0])
    counted = await routing_statements(counting_database, engine, settings, record)
    looked_up = [q for q in counted if "FROM customers" in q or "FROM organisations" in q]
    assert len(looked_up) == 1 and counted[looked_up[0]] == 1, counted  # session 8: 2
    assert "FROM seen_content" in looked_up[0] and "FROM routing_directory_version" in looked_up[0], looked_up
    claims = [q for q in counted if "INSERT INTO processed_events" in q]
    assert len(claims) == 1 and counted[claims[0]] == 1, counted
    assert "INSERT INTO seen_content" in claims[0] and "routing_look_again" in claims[0], claims
    # the batch's check-in (with the details), the look-up, the claim and the writes
    assert by_kind(counted) == {"WITH": 2, "SELECT": 1}, counted  # session 9: WITH 3, BEGIN 1, COMMIT 1
    item = await item_of(engine, record.key.decode())
    assert (item["queue"], item["customer_ids"]) == ("correspondence", [person["customer_id"]])


async def test_an_item_with_nothing_to_look_up_is_routed_in_one_statement_after_its_check_in(
    counting_database: str, settings: RoutingSettings, engine: AsyncEngine
) -> None:
    """No clue to look up and no duplicate key (a web form held in quarantine names nobody): no
    directory lock to hold, so the claim goes with the writes, one autocommitted statement."""
    record = await kept(
        engine,
        DocumentClassifiedV1(channel="webform", received_at=datetime.now(UTC), verdict="quarantined", confidence=0.5),
    )
    counted = await routing_statements(counting_database, engine, settings, record)
    assert by_kind(counted) == {"WITH": 2}, counted  # the check-in; the claim and the writes (session 8: 6)
    assert (await item_of(engine, record.key.decode()))["queue"] == "non-customer"


async def test_an_event_id_claimed_before_changes_nothing_although_its_claim_is_in_the_look_up(
    settings: RoutingSettings, engine: AsyncEngine
) -> None:
    """A copy that raced past the check-in (another copy of the routing group claimed it between
    the two): the look-up finds the id claimed, and nothing it did or would write stays."""
    record = await classified(engine, "someone@unknown-sender.example.org")  # would wait: no such customer
    event = parse_record(record)
    details_known = await details_of(engine, event.document_id)
    async with engine.begin() as conn:
        await conn.execute(processed_events.insert().values(consumer="routing", event_id=event.event_id))
    ctx = HandlerContext(engine, "routing", event, trace_id=uuid.uuid4().hex, details=details_known)
    with pytest.raises(AlreadyProcessed):
        await make_handler(settings)(event, ctx)
    async with engine.connect() as conn:
        for table in (queue_items, awaiting_identity, seen_content):
            assert (await conn.execute(select(table).where(table.c.document_id == event.document_id))).first() is None
        status = select(documents.c.status).where(documents.c.document_id == event.document_id)
        assert (await conn.execute(status)).scalar_one() != "routed"


async def test_a_dead_pooled_connection_under_the_look_up_costs_a_fresh_connection_not_a_try(
    counting_database: str,
) -> None:
    """The look-up is the unit's first statement (the claim is in it): when the pooled connection
    was dead, nothing was written, and the unit runs again on a fresh one (as `db.first_statement`)."""
    settings = RoutingSettings(database_url=counting_database, db_pool_size=1)
    async with warmed_engine(settings) as engine:
        sqlalchemy_event.remove(engine.sync_engine, "checkout", db._refuse_closed)  # the driver has not seen it close
        record = await classified(engine, "a.writer@unknown-sender.example.org")
        received = parse_record(record)
        known = await details_of(engine, received.document_id)
        async with engine.connect() as conn:
            backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with reading(create_async_engine(counting_database, poolclass=NullPool)) as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            gone = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
            while (await admin.execute(gone, {"pid": backend})).scalar_one():
                await asyncio.sleep(0.05)
        ctx = HandlerContext(engine, "routing", received, trace_id=uuid.uuid4().hex, details=known)
        await make_handler(settings)(received, ctx)
        async with engine.connect() as conn:
            claimed = processed_events.c.consumer == "routing", processed_events.c.event_id == received.event_id
            assert (await conn.execute(select(processed_events.c.dead_lettered).where(*claimed))).scalar_one() is False
        assert (await item_of(engine, received.document_id))["queue"] == "unidentified-customer"


async def lock_waiters(conn: AsyncConnection, count: int) -> None:
    """Until `count` other backends wait on a lock (each race is then where the test wants it)."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while (await conn.execute(query)).scalar_one() < count:
        if loop.time() > deadline:
            activity = (await conn.execute(text("SELECT state, wait_event_type FROM pg_stat_activity"))).all()
            pytest.fail(f"fewer than {count} transactions waited on a lock: {activity}")
        await asyncio.sleep(0.05)


async def held(engine: AsyncEngine, statement: str, params: dict[str, Any]) -> AsyncConnection:
    """A transaction holding the row locks `statement` takes, until the caller rolls it back."""
    conn = await engine.connect()
    await conn.begin()
    await conn.execute(text(statement), params)
    return conn


async def finish(*tasks: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S))


async def test_an_upsert_racing_a_routing_that_read_the_old_level_relevels_what_it_placed(
    settings: RoutingSettings, engine: AsyncEngine
) -> None:
    person = customer(racs_level=0)
    await commands.upsert_customers(engine, [person], settings)
    record = await classified(engine, person["emails"][0])
    document_id = record.key.decode()
    # the routing reads the customer (level 0), then its write statement waits on the document row
    blocker = await held(engine, "SELECT 1 FROM documents WHERE document_id = :d FOR NO KEY UPDATE", {"d": document_id})
    async with reading(engine) as watcher:  # autocommit: a transaction would see one snapshot of the activity
        routing = asyncio.create_task(applied(runner(engine, settings), record))
        await lock_waiters(watcher, 1)
        raised = asyncio.create_task(commands.upsert_customers(engine, [{**person, "racs_level": 2}], settings))
        await lock_waiters(watcher, 2)  # the upsert waits for the routing that read the customer
        await blocker.rollback()
        await blocker.close()
        outcome, _ = await finish(routing, raised)
    assert outcome == "applied"
    item = await item_of(engine, document_id)
    assert item["customer_ids"] == [person["customer_id"]]
    assert (item["racs_level"], item["document_racs_level"]) == (2, 2)


async def test_a_routing_racing_an_upsert_that_changed_the_level_reads_the_new_level(
    settings: RoutingSettings, engine: AsyncEngine
) -> None:
    person = customer(racs_level=0)
    await commands.upsert_customers(engine, [person], settings)
    first = await classified(engine, person["emails"][0])
    assert await applied(runner(engine, settings), first) == "applied"
    later = await classified(engine, person["emails"][0])
    # the upsert changes the customer, then waits to re-level the first item (its row held here)
    blocker = await held(
        engine, "SELECT 1 FROM queue_items WHERE document_id = :d FOR NO KEY UPDATE", {"d": first.key.decode()}
    )
    async with reading(engine) as watcher:  # autocommit: a transaction would see one snapshot of the activity
        raised = asyncio.create_task(commands.upsert_customers(engine, [{**person, "racs_level": 2}], settings))
        await lock_waiters(watcher, 1)
        routing = asyncio.create_task(applied(runner(engine, settings), later))
        await lock_waiters(watcher, 2)  # the routing's look-up waits for the upsert
        await blocker.rollback()
        await blocker.close()
        _, outcome = await finish(raised, routing)
    assert outcome == "applied"
    item = await item_of(engine, later.key.decode())
    assert (item["queue"], item["customer_ids"]) == ("racs", [person["customer_id"]])
    assert (item["racs_level"], item["document_racs_level"]) == (2, 2)
    assert (await item_of(engine, first.key.decode()))["racs_level"] == 2


async def test_a_new_customer_racing_the_routing_of_their_letter_identifies_it_when_it_waits(
    settings: RoutingSettings, engine: AsyncEngine
) -> None:
    person = customer()
    record = await classified(engine, person["emails"][0])  # nobody in the directory writes from there yet
    document_id = record.key.decode()
    # the routing finds nobody, then its write statement (the waiting row) waits on the document row
    blocker = await held(engine, "SELECT 1 FROM documents WHERE document_id = :d FOR NO KEY UPDATE", {"d": document_id})
    async with reading(engine) as watcher:
        routing = asyncio.create_task(applied(runner(engine, settings), record))
        await lock_waiters(watcher, 1)
        added = asyncio.create_task(commands.upsert_customers(engine, [person], settings))
        await lock_waiters(watcher, 2)  # the upsert waits for the routing that looked the clues up
        await blocker.rollback()
        await blocker.close()
        outcome, upserted = await finish(routing, added)
    assert outcome == "applied" and upserted == {"upserted": 1, "identified_again": 1}
    item = await item_of(engine, document_id)
    assert (item["queue"], item["customer_ids"]) == ("correspondence", [person["customer_id"]])


async def test_a_letter_routed_while_its_writer_joins_the_directory_finds_them(
    settings: RoutingSettings, engine: AsyncEngine
) -> None:
    person = customer()
    record = await classified(engine, person["emails"][0])
    # the upsert takes its lock, then waits to insert the record (this transaction holds its id)
    blocker = await engine.connect()
    await blocker.begin()
    columns = "customer_id, crn, given_name, family_name"
    await blocker.execute(
        text(f"INSERT INTO customers ({columns}) VALUES (:id, :crn, 'x', 'x')"),
        {"id": person["customer_id"], "crn": person["crn"]},
    )
    async with reading(engine) as watcher:
        added = asyncio.create_task(commands.upsert_customers(engine, [person], settings))
        await lock_waiters(watcher, 1)
        routing = asyncio.create_task(applied(runner(engine, settings), record))
        await lock_waiters(watcher, 2)  # the routing's look-up waits for the upsert
        await blocker.rollback()
        await blocker.close()
        upserted, outcome = await finish(added, routing)
    assert outcome == "applied" and upserted == {"upserted": 1, "identified_again": 0}
    item = await item_of(engine, record.key.decode())
    assert (item["queue"], item["customer_ids"]) == ("correspondence", [person["customer_id"]])


# The look-up holds no lock (session 10): a directory change may commit between a routing's look-up
# and its write statement, which then writes nothing and the routing looks again (lookup.py). Each
# test commits the change right there, from inside the routing (its queue placing is the first
# write it prepares); without the check the item would be routed on the directory it first read.


def changed_before_the_write(monkeypatch: pytest.MonkeyPatch, change: Callable[[], Awaitable[Any]]) -> list[Any]:
    """`change()` runs, to its commit, when the first routing has looked up and decided (before its
    write statement); what it returned is kept in the list returned."""
    place = queues.place
    started, done = [], []

    async def change_first(*args: Any, **kwargs: Any) -> None:
        if not started:  # once: the change may route an item itself
            started.append(True)
            done.append(await change())
        await place(*args, **kwargs)

    monkeypatch.setattr(queues, "place", change_first)
    return done


async def test_a_racs_level_raised_between_the_look_up_and_the_write_is_the_level_the_item_gets(
    settings: RoutingSettings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = customer(racs_level=0)
    await commands.upsert_customers(engine, [person], settings)
    record = await classified(engine, person["emails"][0])
    raised = {**person, "racs_level": 2}
    done = changed_before_the_write(monkeypatch, lambda: commands.upsert_customers(engine, [raised], settings))
    assert await applied(runner(engine, settings), record) == "applied"
    assert done == [{"upserted": 1, "identified_again": 0}]  # nothing of this routing was written yet
    item = await item_of(engine, record.key.decode())
    assert (item["queue"], item["customer_ids"]) == ("racs", [person["customer_id"]])
    assert (item["racs_level"], item["document_racs_level"]) == (2, 2)


async def test_a_customer_added_between_the_look_up_and_the_write_is_who_the_letter_is_routed_to(
    settings: RoutingSettings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = customer()
    record = await classified(engine, person["emails"][0])  # nobody in the directory writes from there yet
    done = changed_before_the_write(monkeypatch, lambda: commands.upsert_customers(engine, [person], settings))
    assert await applied(runner(engine, settings), record) == "applied"
    assert done == [{"upserted": 1, "identified_again": 0}]  # the letter was not waiting yet
    item = await item_of(engine, record.key.decode())
    assert (item["queue"], item["customer_ids"]) == ("correspondence", [person["customer_id"]])
    async with engine.connect() as conn:
        waiting = select(awaiting_identity).where(awaiting_identity.c.document_id == record.key.decode())
        assert (await conn.execute(waiting)).first() is None


async def test_an_employer_whose_domain_is_added_between_the_look_up_and_the_write_is_found(
    settings: RoutingSettings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The domain is found in its key table (session 11): the upsert writes it there and bumps the
    version in one transaction, so the routing that read neither looks again and finds both."""
    company = employer()
    record = await classified(engine, f"payroll.officer@{company['email_domains'][0]}")
    done = changed_before_the_write(monkeypatch, lambda: commands.upsert_organisations(engine, [company], settings))
    assert await applied(runner(engine, settings), record) == "applied"
    assert done == [{"upserted": 1, "identified_again": 0}]
    item = await item_of(engine, record.key.decode())
    assert item["organisation_id"] == company["organisation_id"], item


async def test_the_same_content_routed_first_between_the_look_up_and_the_write_makes_this_its_duplicate(
    settings: RoutingSettings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = uuid.uuid4().hex * 2
    letters = [
        await kept(
            engine,
            DocumentClassifiedV1(
                channel="webform", received_at=datetime.now(UTC), verdict="clear", confidence=0.9, content_sha256=sha
            ),
        )
        for _ in range(2)
    ]
    later, first = letters
    done = changed_before_the_write(monkeypatch, lambda: applied(runner(engine, settings), first))
    assert await applied(runner(engine, settings), later) == "applied"
    assert done == ["applied"]
    duplicate = f"exact duplicate of document {first.key.decode()}"
    assert any(duplicate in reason for reason in (await item_of(engine, later.key.decode()))["reasons"])
    assert not any("exact duplicate" in reason for reason in (await item_of(engine, first.key.decode()))["reasons"])
    async with engine.connect() as conn:
        owners = select(seen_content.c.document_id).where(
            seen_content.c.document_id.in_([first.key.decode(), later.key.decode()])
        )
        assert (await conn.execute(owners)).scalars().all() == [first.key.decode()]  # the key is remembered once


async def test_a_routing_that_meets_a_directory_change_at_every_look_writes_nothing_and_fails_for_a_retry(
    settings: RoutingSettings, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upserts that keep coming between its look-up and its write: after the last look the
    handler fails (the consumer counts a try and retries it), and nothing of it was written."""
    person = customer()
    await commands.upsert_customers(engine, [person], settings)
    event = parse_record(await classified(engine, person["emails"][0]))
    ctx = HandlerContext(
        engine, "routing", event, trace_id=uuid.uuid4().hex, details=await details_of(engine, event.document_id)
    )
    place, upserts = queues.place, []

    async def change_every_time(*args: Any, **kwargs: Any) -> None:
        upserts.append(await commands.upsert_customers(engine, [person], settings))
        await place(*args, **kwargs)

    monkeypatch.setattr(queues, "place", change_every_time)
    with pytest.raises(DBAPIError) as failed:
        await make_handler(settings)(event, ctx)
    assert lookup.directory_changed(failed.value)
    assert len(upserts) == LOOKS_AFTER_A_DIRECTORY_CHANGE + 1
    async with engine.connect() as conn:
        claimed = processed_events.c.consumer == "routing", processed_events.c.event_id == event.event_id
        assert (await conn.execute(select(processed_events).where(*claimed))).first() is None
        for table in (queue_items, awaiting_identity, seen_content):
            assert (await conn.execute(select(table).where(table.c.document_id == event.document_id))).first() is None
        status = select(documents.c.status).where(documents.c.document_id == event.document_id)
        assert (await conn.execute(status)).scalar_one() != "routed"


def webform(sha: str) -> DocumentClassifiedV1:
    """A clear web form naming nobody: a duplicate key, and no clue to look the directory up with."""
    return DocumentClassifiedV1(
        channel="webform", received_at=datetime.now(UTC), verdict="clear", confidence=0.9, content_sha256=sha
    )


async def test_an_item_with_only_a_duplicate_key_is_routed_in_one_statement_after_its_check_in(
    counting_database: str, settings: RoutingSettings, engine: AsyncEngine
) -> None:
    """Assumed the first with its content: the write statement remembers its key, and checks it."""
    warm = await kept(engine, webform(uuid.uuid4().hex * 2))  # the driver learns this shape's types first
    assert await applied(runner(engine, settings), warm) == "applied"
    record = await kept(engine, webform(uuid.uuid4().hex * 2))
    counted = await routing_statements(counting_database, engine, settings, record)
    assert by_kind(counted) == {"WITH": 2}, counted  # the check-in; the claim and the writes (session 9: 5)
    assert [q for q in counted if "INSERT INTO seen_content" in q], counted
    async with engine.connect() as conn:
        owner = select(seen_content.c.document_id).where(seen_content.c.document_id == record.key.decode())
        assert (await conn.execute(owner)).scalar_one() == record.key.decode()


async def test_an_exact_duplicate_with_nothing_else_to_look_up_is_found_when_it_looks_again(
    counting_database: str, settings: RoutingSettings, engine: AsyncEngine
) -> None:
    sha = uuid.uuid4().hex * 2
    first, again = [await kept(engine, webform(sha)) for _ in range(2)]
    assert await applied(runner(engine, settings), first) == "applied"
    counted = await routing_statements(counting_database, engine, settings, again)
    # the check-in; the writes that found the key taken wrote nothing (not counted: it failed); the
    # key's look-up; the claim and the writes
    assert by_kind(counted) == {"WITH": 2, "(SELECT": 1}, counted
    reasons = (await item_of(engine, again.key.decode()))["reasons"]
    assert any(f"exact duplicate of document {first.key.decode()}" in reason for reason in reasons), reasons
