"""The operations dashboard's figures: counts and document ids only, never personal details.

Every query reads an index over the rows it counts (routing_0005), so the page stays cheap with
millions of documents: stage backlogs and failures from the documents not yet routed, held items
from the non-clear verdicts, dead letters from the markers not processed since, the chart from
the last hours of arrivals, and open items oldest first and by due date, each with a limit.
Counts are for every key; ids and queue items only at the key's RACS level.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.documents import DocumentRepository, document_racs_level
from mailintake_common.gauges import dead_letters_by_group
from mailintake_common.tables import documents
from mailintake_routing.adapters import alerts as alerts_adapter
from mailintake_routing.adapters.tables import queue_items

BACKLOG_STAGES = ("received", "screened", "classified")  # not yet routed, by the last stage passed


async def summary(conn: AsyncConnection, max_racs: int, *, chart_hours: int, open_items: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    chart_hours, open_items = max(1, min(chart_hours, 24)), max(1, min(open_items, 200))
    stages = await _unrouted(conn)
    held = await _held(conn, max_racs)
    alert_counts = await alerts_adapter.counts(conn, max_racs)
    return {
        "routed_last_hour": await _routed_since(conn, now - timedelta(hours=1), max_racs),
        "stages": {stage: stages.get(stage, 0) for stage in BACKLOG_STAGES},
        "not_yet_routed": sum(stages.get(stage, 0) for stage in BACKLOG_STAGES),
        "failed": stages.get("failed", 0),
        "dead_letters": await dead_letters_by_group(conn),
        "quarantined": held.get("quarantined", 0),
        "manual_adjustment": held.get("manual_adjustment", 0),
        "open_alerts": alert_counts["open"]["count"],
        "acknowledged_alerts": alert_counts["acknowledged"]["count"],
        "alerts": alert_counts,
        "per_minute": await _per_minute(conn, now, chart_hours),
        "open_items": await _open_items(conn, now, max_racs, open_items),
        "failed_documents": await _failed(conn, max_racs, open_items),
        "recent": await _recent(conn, max_racs),
    }


async def _unrouted(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(
        select(documents.c.status, func.count()).where(documents.c.status != "routed").group_by(documents.c.status)
    )
    return {status: count for status, count in rows}


async def _held(conn: AsyncConnection, max_racs: int) -> dict[str, int]:
    verdict = documents.c.screening["verdict"].astext
    rows = await conn.execute(
        select(verdict, func.count()).where(verdict != "clear", document_racs_level() <= max_racs).group_by(verdict)
    )
    return {str(v): count for v, count in rows}


async def _routed_since(conn: AsyncConnection, since: datetime, max_racs: int) -> int:
    query = select(func.count()).where(queue_items.c.routed_at > since, queue_items.c.racs_level <= max_racs)
    return int((await conn.execute(query)).scalar_one())


async def _per_minute(conn: AsyncConnection, now: datetime, hours: int) -> dict[str, Any]:
    """Documents received and routed per minute over the last `hours`, one point per minute."""
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(hours=hours) + timedelta(minutes=1)
    counted: dict[str, dict[datetime, int]] = {}
    for name, column in (("received", documents.c.received_at), ("routed", queue_items.c.routed_at)):
        minute = func.date_trunc("minute", column)
        rows = await conn.execute(select(minute, func.count()).where(column >= start).group_by(minute))
        counted[name] = {at: count for at, count in rows}
    minutes = [start + timedelta(minutes=i) for i in range(hours * 60)]
    return {
        "start": start.isoformat(),
        "received": [counted["received"].get(m, 0) for m in minutes],
        "routed": [counted["routed"].get(m, 0) for m in minutes],
    }


async def _open_items(conn: AsyncConnection, now: datetime, max_racs: int, limit: int) -> list[dict[str, Any]]:
    """The open items most in need of a person: overdue first (by due date), then the oldest."""
    columns = (
        queue_items.c.document_id,
        queue_items.c.queue,
        queue_items.c.priority,
        queue_items.c.at_risk,
        queue_items.c.routed_at,
        queue_items.c.due_by,
    )
    is_open = (queue_items.c.completed_at.is_(None), queue_items.c.racs_level <= max_racs)
    overdue = await conn.execute(
        select(*columns)
        .where(*is_open, queue_items.c.due_by.is_not(None), queue_items.c.due_by < now)
        .order_by(queue_items.c.due_by)
        .limit(limit)
    )
    oldest = await conn.execute(select(*columns).where(*is_open).order_by(queue_items.c.routed_at).limit(limit))
    chosen: dict[str, dict[str, Any]] = {}
    for row in [*overdue.mappings(), *oldest.mappings()]:
        chosen.setdefault(row["document_id"], dict(row))
    return [
        {
            "document_id": row["document_id"],
            "queue": row["queue"],
            "priority": row["priority"],
            "at_risk": row["at_risk"],
            "age_s": int((now - row["routed_at"]).total_seconds()),
            "due_by": row["due_by"].isoformat() if row["due_by"] else None,
            "overdue": bool(row["due_by"] and row["due_by"] < now),
        }
        for row in list(chosen.values())[:limit]
    ]


async def _failed(conn: AsyncConnection, max_racs: int, limit: int) -> list[dict[str, Any]]:
    """The oldest failed documents with the stage that gave up (ids and stages only)."""
    rows = await DocumentRepository(conn).failed(limit, None, max_racs)
    return [
        {
            "document_id": r["document_id"],
            "stage": r["stage"],
            "failed_at": (r["failed_at"] or r["updated_at"]).isoformat(),
        }
        for r in rows
    ]


async def _recent(conn: AsyncConnection, max_racs: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(
            queue_items.c.document_id,
            queue_items.c.queue,
            queue_items.c.priority,
            queue_items.c.at_risk,
            queue_items.c.routed_at,
        )
        .where(queue_items.c.racs_level <= max_racs)
        .order_by(queue_items.c.routed_at.desc())
        .limit(10)
    )
    return [{**r, "routed_at": r["routed_at"].isoformat()} for r in rows.mappings()]
