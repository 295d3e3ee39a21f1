"""Queue items and reroutes in PostgreSQL (seen content: lookup.py), and the operations figures (alerts: alerts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.events import QueueItemStatus
from mailintake_common.writes import Writes, rows_insert
from mailintake_routing.adapters.tables import alerts, queue_items, reroutes
from mailintake_routing.domain.model import Decision
from mailintake_routing.domain.work import Completion

ItemStatus = QueueItemStatus | Literal["all"]


_PLACED = (
    "queue",
    "category",
    "sub_category",
    "exemption",
    "priority",
    "due_by",
    "customer_ids",
    "organisation_id",
    "racs_level",
    "at_risk",
    "reasons",
    "completed_at",
    "completed_by",
    "outcome",
    "note",
)


def _placing(statement: Insert) -> Insert:
    """Routed again (a retry, a reroute): the new placing, and open work again."""
    again = {name: statement.excluded[name] for name in _PLACED}
    return statement.on_conflict_do_update(index_elements=["document_id"], set_={**again, "routed_at": func.now()})


PLACINGS = rows_insert("placing", queue_items, ("document_id", *_PLACED), _placing)  # deferred (issue 18)


async def place(
    conn: AsyncConnection, document_id: str, decision: Decision, at_risk: bool, writes: Writes | None = None
) -> None:
    """The item's queue item; with a unit of work's `writes`, in its one write statement (issue 18)."""
    values = {
        "queue": decision.queue,
        "category": decision.category,
        "sub_category": decision.sub_category,
        "exemption": decision.exemption,
        "priority": decision.priority,
        "due_by": decision.due_by,
        "customer_ids": decision.customer_ids,
        "organisation_id": decision.organisation_id,
        "racs_level": decision.racs_level,
        "at_risk": at_risk,
        "reasons": decision.reasons,
        # routed again (a retry, a reroute): open work again
        "completed_at": None,
        "completed_by": None,
        "outcome": None,
        "note": None,
    }
    if writes is not None:
        await writes.add(conn, PLACINGS, {"document_id": document_id, **values}, key=("placing", document_id))
        return
    await conn.execute(_placing(insert(queue_items).values(document_id=document_id, **values)))


async def get_item(conn: AsyncConnection, document_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = select(queue_items).where(queue_items.c.document_id == document_id)
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def record_reroute(
    conn: AsyncConnection, document_id: str, from_queue: str, to_queue: str, reason: str, key_id: str
) -> None:
    await conn.execute(
        reroutes.insert().values(
            document_id=document_id, from_queue=from_queue, to_queue=to_queue, reason=reason, key_id=key_id
        )
    )
    await conn.execute(update(alerts).where(alerts.c.document_id == document_id).values(queue=to_queue))


async def complete(conn: AsyncConnection, document_id: str, completion: Completion) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                update(queue_items)
                .where(queue_items.c.document_id == document_id)
                .values(
                    completed_at=completion.completed_at,
                    completed_by=completion.completed_by,
                    outcome=completion.outcome,
                    note=completion.note,
                )
                .returning(queue_items)
            )
        )
        .mappings()
        .one()
    )
    return dict(row)


async def depths(conn: AsyncConnection, max_racs: int) -> dict[str, dict[str, Any]]:
    """Open items only (completed work is not depth, oldest or overdue)."""
    now = func.now()
    rows = await conn.execute(
        select(
            queue_items.c.queue,
            func.count().label("depth"),
            func.min(queue_items.c.routed_at).label("oldest_at"),
            func.count().filter(queue_items.c.priority).label("priority_depth"),
            func.count().filter(and_(queue_items.c.due_by.is_not(None), queue_items.c.due_by < now)).label("overdue"),
        )
        .where(queue_items.c.racs_level <= max_racs, queue_items.c.completed_at.is_(None))
        .group_by(queue_items.c.queue)
    )
    return {r.queue: dict(r._mapping) for r in rows}


async def list_items(
    conn: AsyncConnection,
    queue: str,
    limit: int,
    after: tuple[datetime, str] | None,
    max_racs: int,
    status: ItemStatus = "open",
) -> list[dict[str, Any]]:
    query = (
        select(queue_items)
        .where(queue_items.c.queue == queue, queue_items.c.racs_level <= max_racs)
        .order_by(queue_items.c.routed_at, queue_items.c.document_id)
        .limit(limit)
    )
    if status == "open":
        query = query.where(queue_items.c.completed_at.is_(None))
    elif status == "completed":
        query = query.where(queue_items.c.completed_at.is_not(None))
    if after:
        query = query.where(tuple_(queue_items.c.routed_at, queue_items.c.document_id) > tuple_(*after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]
