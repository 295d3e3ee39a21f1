"""The database gauges (issue 16), read in one statement since issue 18, on a database of the test's own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text, update

from mailintake_common import gauges
from mailintake_common.db import make_engine, unit_of_work
from mailintake_common.events import TOPIC_RECEIVED, DocumentReceivedV1, new_event
from mailintake_common.gauges import _database_gauges, dead_letters_by_group, refresh_once
from mailintake_common.settings import CommonSettings
from mailintake_common.tables import documents
from tests.support.stack import Infra


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_gauges_count_unpublished_rows_and_documents_per_status_up_to_the_cap(fresh_infra: Infra) -> None:
    engine = make_engine(CommonSettings(database_url=fresh_infra.database_url))
    try:
        payload = DocumentReceivedV1(channel="webform", received_at=datetime.now(UTC), parts=[])
        ids = [uuid.uuid4().hex for _ in range(3)]
        async with unit_of_work(engine) as uow:
            for document_id in ids:
                await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
                await uow.outbox.add(TOPIC_RECEIVED, new_event(document_id, payload))
        async with engine.begin() as conn:
            await conn.execute(update(documents).where(documents.c.document_id == ids[0]).values(status="routed"))

        await refresh_once(engine, cap=100)
        assert gauge("mailintake_outbox_unpublished") == 3
        assert gauge("mailintake_documents", status="received") == 2
        assert gauge("mailintake_documents", status="routed") == 1
        assert gauge("mailintake_documents", status="failed") == 0
        age = gauge("mailintake_outbox_oldest_unpublished_seconds")
        assert age is not None and age > 0

        await refresh_once(engine, cap=2)  # a bounded count stops at the cap
        assert gauge("mailintake_outbox_unpublished") == 2
        assert gauge("mailintake_documents", status="received") == 2
    finally:
        await engine.dispose()


async def test_a_status_at_the_cap_is_counted_again_only_after_the_recount_interval(
    fresh_infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, session 10: `routed` sits at the cap on a database in service, and counting it
    in every process every refresh cost PostgreSQL 20-50 ms a time for the same figure."""
    monkeypatch.setattr(gauges, "_at_cap_since", {})
    engine = make_engine(CommonSettings(database_url=fresh_infra.database_url))
    hour = 3600.0

    async def set_status(ids: list[str], status: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(update(documents).where(documents.c.document_id.in_(ids)).values(status=status))

    try:
        ids = [uuid.uuid4().hex for _ in range(3)]
        async with unit_of_work(engine) as uow:
            for document_id in ids:
                await uow.documents.create(document_id, channel="webform", received_at=datetime.now(UTC))
        await set_status(ids, "routed")
        await refresh_once(engine, cap=2, capped_recount_interval_s=hour)
        assert gauge("mailintake_documents", status="routed") == 2  # at the cap

        await set_status(ids[:2], "failed")  # one routed document left
        await refresh_once(engine, cap=2, capped_recount_interval_s=hour)
        assert gauge("mailintake_documents", status="failed") == 2  # counted: the refresh ran
        assert gauge("mailintake_documents", status="routed") == 2  # at the cap within the hour: kept

        await refresh_once(engine, cap=2, capped_recount_interval_s=0.0)  # the interval is over
        assert gauge("mailintake_documents", status="routed") == 1

        await set_status(ids[:1], "routed")  # under the cap it is counted at every refresh
        await refresh_once(engine, cap=2, capped_recount_interval_s=hour)
        assert gauge("mailintake_documents", status="routed") == 2
    finally:
        await engine.dispose()


async def test_every_gauge_is_read_through_an_index(fresh_infra: Infra) -> None:
    """`/metrics` stays cheap with millions of rows: with sequential scans priced out, the
    planner uses one only where no index can serve. The refresh's statements need none."""
    engine = make_engine(CommonSettings(database_url=fresh_infra.database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
            await conn.execute(_database_gauges(1000))
            await dead_letters_by_group(conn, 1000)
            rows = await conn.execute(
                text(
                    "SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
                    "WHERE relname IN ('documents', 'outbox', 'processed_events')"
                )
            )
            scans = {name: count for name, count in rows}
    finally:
        await engine.dispose()
    assert set(scans) == {"documents", "outbox", "processed_events"} and not any(scans.values()), scans
