"""The operations dashboard (issue 16, "Visibility"): per-stage backlog, failed documents and dead
letters, alerts with their ages, documents per minute, open items with overdue ones highlighted,
shown in headless Chromium against the real services and checked against the database; and every
figure is read through an index (the page stays cheap with millions of documents)."""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.tables import documents, processed_events, timeline
from mailintake_routing.adapters import dashboard
from mailintake_routing.adapters.tables import queue_items
from tests.factories.documents import email_bytes
from tests.support.api import client, wait_for_status
from tests.support.browser import dashboard_in_chromium
from tests.support.stack import ADMIN_KEY, Infra, Service

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
RUN = uuid.uuid4().hex[:8]
NEVER_RECONCILE = 1_000_000  # the reconciler leaves these set-up rows alone


@pytest.fixture
async def states(infra: Infra, stack: dict[str, Service]) -> AsyncIterator[dict[str, str]]:
    """Documents in each state the dashboard counts: two routed through the real services, and rows
    for the states that need a fault to reach (waiting at a stage, failed, dead-lettered, overdue)."""
    async with client(stack["intake"].base_url) as http:
        posted = []
        for n in range(2):
            raw = email_bytes(subject=f"Payment query {RUN}-{n}", body=f"When is the next payment due? ({RUN}-{n})")
            answer = await http.post("/v1/emails?mailbox=edc", content=raw, headers={"Content-Type": "message/rfc822"})
            posted.append(answer.json()["document_id"])
        for document_id in posted:
            await wait_for_status(http, document_id, {"routed"})
    ids = {name: f"dash-{RUN}-{name}" for name in ("received", "screened", "classified", "failed", "overdue")}
    now = datetime.now(UTC)
    engine = create_async_engine(infra.database_url)
    async with engine.begin() as conn:
        for name, document_id in ids.items():
            status = "routed" if name == "overdue" else name
            await conn.execute(
                insert(documents).values(
                    document_id=document_id,
                    channel="email",
                    status=status,
                    received_at=now - timedelta(minutes=5),
                    racs_level=0 if status in ("received", "screened", "routed") else None,
                    reconcile_count=NEVER_RECONCILE,
                )
            )
        await conn.execute(
            insert(timeline).values(
                document_id=ids["failed"], stage="classifier", outcome="failed", reasons=["WorkerLost"]
            )
        )
        await conn.execute(
            insert(processed_events).values(consumer="classifier", event_id=f"dl-{RUN}", dead_lettered=True)
        )
        await conn.execute(
            insert(queue_items).values(
                document_id=ids["overdue"],
                queue="court",
                category="court",
                exemption=False,
                priority=True,
                due_by=now - timedelta(days=2),
                routed_at=now - timedelta(days=3),
            )
        )
    try:
        yield ids
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(queue_items).where(queue_items.c.document_id == ids["overdue"]))
            await conn.execute(delete(processed_events).where(processed_events.c.event_id == f"dl-{RUN}"))
            await conn.execute(delete(timeline).where(timeline.c.document_id.in_(ids.values())))
            await conn.execute(delete(documents).where(documents.c.document_id.in_(ids.values())))
        await engine.dispose()


async def test_the_summary_matches_the_database(
    states: dict[str, str], infra: Infra, stack: dict[str, Service]
) -> None:
    async with client(stack["routing"].base_url) as http:
        summary = (await http.get("/v1/dashboard/summary")).json()
    engine = create_async_engine(infra.database_url)
    async with engine.connect() as conn:
        rows = await conn.execute(select(documents.c.status, func.count()).group_by(documents.c.status))
        by_status = {status: count for status, count in rows}
        dead = (await conn.execute(select(func.count()).where(processed_events.c.dead_lettered))).scalar_one()
    await engine.dispose()
    assert summary["stages"] == {s: by_status.get(s, 0) for s in ("received", "screened", "classified")}
    assert summary["not_yet_routed"] == sum(by_status.get(s, 0) for s in ("received", "screened", "classified")) >= 3
    assert summary["failed"] == by_status.get("failed", 0) >= 1
    assert sum(summary["dead_letters"].values()) == dead and summary["dead_letters"]["classifier"] >= 1
    assert [f["stage"] for f in summary["failed_documents"] if f["document_id"] == states["failed"]] == ["classifier"]
    overdue = [i for i in summary["open_items"] if i["document_id"] == states["overdue"]]
    assert overdue and overdue[0]["overdue"] and overdue[0]["age_s"] >= 3 * 86400 - 60
    assert summary["open_items"][0]["overdue"]  # overdue items come first
    minutes = summary["per_minute"]
    assert len(minutes["received"]) == len(minutes["routed"]) == 3 * 60
    assert sum(minutes["received"]) >= 7 and sum(minutes["routed"]) >= 2  # the set-up rows and the two routed emails


async def test_every_dashboard_figure_is_read_through_an_index(states: dict[str, str], infra: Infra) -> None:
    """With sequential scans priced out, the planner uses a scan only where no index can serve: none."""
    engine = create_async_engine(infra.database_url)
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        await dashboard.summary(conn, 3, chart_hours=3, open_items=20)
        rows = await conn.execute(
            text(
                "SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
                "WHERE relname IN ('documents', 'queue_items', 'processed_events', 'alerts', 'timeline')"
            )
        )
        scans = {name: count for name, count in rows}
    await engine.dispose()
    assert scans and all(count == 0 for count in scans.values()), scans


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/system-deps.sh)")
async def test_the_page_shows_each_figure_in_headless_chromium(
    states: dict[str, str], stack: dict[str, Service]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-operations.png"
    routing = stack["routing"].base_url
    seen = await asyncio.to_thread(dashboard_in_chromium, routing, ADMIN_KEY, shot, 1600)
    async with httpx.AsyncClient(base_url=routing, headers={"X-API-Key": ADMIN_KEY}) as http:
        summary = (await http.get("/v1/dashboard/summary")).json()
    page = seen.dom
    assert "updated" in page, seen.log[-2000:]
    for name in ("not_yet_routed", "failed"):
        assert f'id="{name}">{summary[name]}<' in page, name
    assert f'id="dead_letters_total">{sum(summary["dead_letters"].values())}<' in page
    assert f'id="stage_received">{summary["stages"]["received"]}<' in page
    row = re.search(r'<tr class="overdue"><td><a href="[^"]*/v1/documents/' + states["overdue"] + r'">.*?</tr>', page)
    assert row and "overdue" in row.group(0) and "3 d" in row.group(0), page[-3000:]
    assert states["failed"] in page and "classifier" in page
    assert re.search(r'id="line_received"[^>]*data-points="180"', page) or re.search(
        r'data-points="180"[^>]*id="line_received"', page
    )
    assert "Content Security Policy" not in seen.log and "Refused to" not in seen.log, seen.log[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
