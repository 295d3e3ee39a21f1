"""Records disposal (issue 16) on a real PostgreSQL of its own (disposal reaches every row).

Documents are stored the way the services store them (blobs, then an event through the outbox,
which links the blobs to the document); disposal runs as if 31 days had passed, with 30 days'
retention for each kind.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mailintake_common import blob_links, details
from mailintake_common.blobs import PostgresBlobStore
from mailintake_common.db import unit_of_work
from mailintake_common.devstack import Postgres, free_port
from mailintake_common.events import DocumentReceivedV1, ReceivedPart, new_event
from mailintake_common.migrate import upgrade
from mailintake_common.outbox import encode
from mailintake_common.retention import dispose_once
from mailintake_common.retention_rules import RetentionPolicy
from mailintake_common.tables import blobs, document_blobs, documents, processed_events, timeline
from tests.support.stack import Infra, make_service, migrated_postgres

pytestmark = pytest.mark.slow

POLICY = RetentionPolicy(routed_content_days=30, processed_events_days=30, completed_items_days=30, batch_size=100)
LATER = datetime.now(UTC) + timedelta(days=31)  # "now" for disposal: everything stored today is 31 days old


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_postgres(tmp_path_factory.mktemp("retention") / "pg") as url:
        yield url


@pytest.fixture
async def engine(database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database)
    async with engine.begin() as conn:  # each test starts with no documents or blobs
        await conn.execute(
            text(
                "TRUNCATE documents, timeline, blobs, document_blobs, outbox, processed_events,"
                " queue_items, alerts, awaiting_identity, quarantine_items,"
                " received_details, screening_details, classification_details"
            )
        )
    yield engine
    await engine.dispose()


async def store(engine: AsyncEngine, status: str, *contents: bytes) -> str:
    """A document received with `contents` as its parts, then moved to `status`."""
    document_id = uuid.uuid4().hex
    async with unit_of_work(engine) as uow:
        parts = [
            ReceivedPart(part_id=f"p{i}", role="attachment", blob=await uow.blobs.put(content, "text/plain"))
            for i, content in enumerate(contents)
        ]
        await uow.documents.create(document_id, channel="email", received_at=datetime.now(UTC), mailbox="edc")
        payload = DocumentReceivedV1(channel="email", received_at=datetime.now(UTC), mailbox="edc", parts=parts)
        await uow.outbox.add("mail.intake.received", new_event(document_id, payload))
        await uow.conn.execute(update(documents).where(documents.c.document_id == document_id).values(status=status))
    return document_id


def letter(text_: str) -> bytes:
    return f"{text_}\n{uuid.uuid4().hex}".encode()


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def blob_count(engine: AsyncEngine, content: bytes) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).where(blobs.c.sha256 == _sha(content)))).scalar_one())


async def retention_entries(engine: AsyncEngine, document_id: str) -> list[tuple[str, list[str]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(timeline.c.outcome, timeline.c.reasons).where(
                timeline.c.document_id == document_id, timeline.c.stage == "retention"
            )
        )
        return [(r.outcome, r.reasons) for r in rows]


async def test_a_routed_documents_content_goes_and_its_timeline_says_so(engine: AsyncEngine) -> None:
    email, attachment = letter("Dear team, my new address is attached."), letter("Lease agreement, page 1")
    routed = await store(engine, "routed", email, attachment)
    async with engine.begin() as conn:
        linked = (await conn.execute(select(func.count()).where(document_blobs.c.document_id == routed))).scalar_one()
        await details.keep(conn, routed, details.ReceivedDetails(filenames=[None, "Kowalczyk lease.pdf"]))
    assert linked == 2  # the outbox linked both parts to the document

    assert (await dispose_once(engine, POLICY, now=datetime.now(UTC))).blobs == 0  # not yet 30 days
    assert await blob_count(engine, email) == 1

    done = await dispose_once(engine, POLICY, now=LATER)
    assert (done.documents, done.blobs) == (1, 2)
    assert await blob_count(engine, email) == 0 and await blob_count(engine, attachment) == 0
    [(outcome, reasons)] = await retention_entries(engine, routed)
    assert outcome == "disposed" and "2 blob(s) deleted" in reasons[0]
    with pytest.raises(details.DetailsMissing):  # the filenames intake kept went with the content (issue 15)
        async with engine.connect() as conn:
            await details.read(conn, routed, details.ReceivedDetails)
    assert (await dispose_once(engine, POLICY, now=LATER)).documents == 0  # nothing left to do


async def test_documents_not_routed_keep_their_content(engine: AsyncEngine) -> None:
    kept = {status: letter(f"A letter still {status}") for status in ("received", "screened", "classified", "failed")}
    for status, content in kept.items():
        await store(engine, status, content)
    assert (await dispose_once(engine, POLICY, now=LATER)).blobs == 0
    for content in kept.values():
        assert await blob_count(engine, content) == 1


async def test_routed_documents_with_open_work_keep_their_content(engine: AsyncEngine) -> None:
    with_item, with_alert, awaiting, held = (letter(w) for w in ("item", "alert", "awaiting", "held"))
    item_doc = await store(engine, "routed", with_item)
    alert_doc = await store(engine, "routed", with_alert)
    awaiting_doc = await store(engine, "routed", awaiting)
    held_doc = await store(engine, "routed", held)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO queue_items (document_id, queue, category, exemption, priority)"
                " VALUES (:d, 'correspondence', 'correspondence', false, false)"
            ),
            {"d": item_doc},
        )
        await conn.execute(
            text(
                "INSERT INTO alerts (alert_id, document_id, queue, categories, status)"
                " VALUES (:a, :d, 'correspondence', '{self_harm}', 'acknowledged')"
            ),
            {"a": uuid.uuid4().hex, "d": alert_doc},
        )
        await conn.execute(
            text(
                "INSERT INTO awaiting_identity (document_id, queue, classified)"
                " VALUES (:d, 'unidentified-customer', '{}')"
            ),
            {"d": awaiting_doc},
        )
        await conn.execute(
            text(
                "INSERT INTO quarantine_items (document_id, verdict, reasons, findings, received)"
                " VALUES (:d, 'manual_adjustment', '{}', '[]', '{}')"
            ),
            {"d": held_doc},
        )
    assert (await dispose_once(engine, POLICY, now=LATER)).blobs == 0
    for content in (with_item, with_alert, awaiting, held):
        assert await blob_count(engine, content) == 1

    async with engine.begin() as conn:  # the officer finishes the work: the content may go
        await conn.execute(text("UPDATE queue_items SET completed_at = now() WHERE document_id = :d"), {"d": item_doc})
        await conn.execute(text("UPDATE alerts SET status = 'closed' WHERE document_id = :d"), {"d": alert_doc})
    done = await dispose_once(engine, POLICY, now=LATER)
    assert done.blobs == 2
    assert await blob_count(engine, with_item) == 0 and await blob_count(engine, with_alert) == 0
    assert await blob_count(engine, awaiting) == 1 and await blob_count(engine, held) == 1


async def test_a_blob_shared_with_a_document_still_needed_is_kept_until_that_one_goes(engine: AsyncEngine) -> None:
    payslip = letter("Payslip for the fortnight ending 14 November")
    first = await store(engine, "routed", payslip, letter("Cover note: payslip attached"))
    second = await store(engine, "classified", payslip)  # the same attachment, sent again

    done = await dispose_once(engine, POLICY, now=LATER)
    assert (done.documents, done.blobs, done.blobs_kept) == (1, 1, 1)
    assert await blob_count(engine, payslip) == 1
    [(_, reasons)] = await retention_entries(engine, first)
    assert "1 blob(s) kept" in reasons[1]

    async with engine.begin() as conn:
        await conn.execute(update(documents).where(documents.c.document_id == second).values(status="routed"))
    assert (await dispose_once(engine, POLICY, now=LATER)).blobs == 1
    assert await blob_count(engine, payslip) == 0


async def test_a_blob_being_linked_to_a_new_document_is_not_deleted(engine: AsyncEngine) -> None:
    form = letter("Change of circumstances form, signed")
    await store(engine, "routed", form)
    newcomer = uuid.uuid4().hex
    async with engine.connect() as intake:  # intake is storing the same form for a new document
        transaction = await intake.begin()
        await blob_links.link(intake, newcomer, [_sha(form)])
        disposal = asyncio.create_task(dispose_once(engine, POLICY, now=LATER))
        await asyncio.sleep(1.0)
        assert not disposal.done()  # the delete waits for intake's transaction
        await transaction.commit()
        done = await disposal
    assert (done.documents, done.blobs, done.blobs_kept) == (1, 0, 1)
    assert await blob_count(engine, form) == 1


async def test_each_run_is_bounded(engine: AsyncEngine) -> None:
    for i in range(5):
        await store(engine, "routed", letter(f"Letter number {i}"))
    small = RetentionPolicy(routed_content_days=30, processed_events_days=30, completed_items_days=30, batch_size=2)
    assert [(await dispose_once(engine, small, now=LATER)).documents for _ in range(4)] == [2, 2, 1, 0]


async def test_old_processed_event_ids_and_completed_items_go_recent_and_open_ones_stay(engine: AsyncEngine) -> None:
    done_doc, open_doc = await store(engine, "routed", letter("done")), await store(engine, "routed", letter("open"))
    async with engine.begin() as conn:
        await conn.execute(
            processed_events.insert(),
            [
                {"consumer": "routing", "event_id": "old", "processed_at": datetime.now(UTC)},
                {"consumer": "routing", "event_id": "recent", "processed_at": LATER - timedelta(days=1)},
            ],
        )
        for document_id, completed in ((done_doc, "now()"), (open_doc, "NULL")):
            await conn.execute(
                text(
                    "INSERT INTO queue_items (document_id, queue, category, exemption, priority, completed_at)"
                    f" VALUES (:d, 'payments', 'payments', false, false, {completed})"
                ),
                {"d": document_id},
            )
    no_content = RetentionPolicy(
        routed_content_days=0, processed_events_days=30, completed_items_days=30, batch_size=10
    )
    done = await dispose_once(engine, no_content, now=LATER)
    assert (done.processed_events, done.queue_items, done.blobs) == (1, 1, 0)
    async with engine.connect() as conn:
        assert (await conn.execute(select(processed_events.c.event_id))).scalars().all() == ["recent"]
        left = (await conn.execute(text("SELECT document_id FROM queue_items"))).scalars().all()
    assert left == [open_doc]
    [(outcome, _)] = await retention_entries(engine, done_doc)
    assert outcome == "item_disposed"


async def test_nothing_goes_when_every_period_is_zero(engine: AsyncEngine) -> None:
    content = letter("Kept for ever")
    await store(engine, "routed", content)
    off = RetentionPolicy(routed_content_days=0, processed_events_days=0, completed_items_days=0, batch_size=10)
    assert not off.enabled
    assert (await dispose_once(engine, off, now=LATER + timedelta(days=3650))).blobs == 0
    assert await blob_count(engine, content) == 1


async def test_the_leader_loop_of_a_running_service_disposes(fresh_infra: Infra, tmp_path: Path) -> None:
    """The reconciler's leader runs disposal: a document routed 40 days ago loses its content."""
    engine = create_async_engine(fresh_infra.database_url)
    content = letter("Old correspondence, long since attached to the record")
    try:
        routed = await store(engine, "routed", content)
        async with engine.begin() as conn:
            await conn.execute(
                update(documents)
                .where(documents.c.document_id == routed)
                .values(updated_at=datetime.now(UTC) - timedelta(days=40))
            )
        intake = make_service(
            fresh_infra,
            "intake",
            tmp_path,
            {"MAILINTAKE_RETENTION_ROUTED_CONTENT_DAYS": "30", "MAILINTAKE_RECONCILE_INTERVAL_S": "0.5"},
        )
        intake.start()
        try:
            deadline = time.monotonic() + 60
            while await blob_count(engine, content):
                assert time.monotonic() < deadline, "the running service never disposed of the content"
                await asyncio.sleep(0.5)
        finally:
            intake.stop()
        assert [outcome for outcome, _ in await retention_entries(engine, routed)] == ["disposed"]
        assert content.decode().splitlines()[0] not in intake.log_path.read_text()
    finally:
        await engine.dispose()


async def test_the_migration_links_blobs_named_by_the_outbox_rows_still_kept(tmp_path: Path) -> None:
    pg = Postgres(tmp_path / "pg", free_port(), fast=True)
    pg.start()
    engine = create_async_engine(pg.url)
    try:
        await asyncio.to_thread(upgrade, pg.url, "common_0005_racs")
        content = letter("Scanned letter from before the upgrade")
        async with engine.begin() as conn:
            ref = await PostgresBlobStore(conn).put(content, "text/plain")
            part = ReceivedPart(part_id="p0", role="scan", blob=ref)
            event = new_event("before", DocumentReceivedV1(channel="scan", received_at=datetime.now(UTC), parts=[part]))
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, document_id, event_type, topic, value)"
                    " VALUES (:e, :d, :t, :topic, :v)"
                ),
                {
                    "e": event.event_id,
                    "d": "before",
                    "t": event.event_type,
                    "topic": "mail.intake.received",
                    "v": encode(event),
                },
            )
        await asyncio.to_thread(upgrade, pg.url)
        async with engine.connect() as conn:
            links = (await conn.execute(select(document_blobs.c.document_id, document_blobs.c.sha256))).all()
        assert [tuple(r) for r in links] == [("before", ref.sha256)]
    finally:
        await engine.dispose()
        pg.stop()
