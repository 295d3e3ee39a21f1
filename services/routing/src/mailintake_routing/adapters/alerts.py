"""Alerts in PostgreSQL: one row per document, its work state, listings and dashboard counts.

RACS: listings show an alert only to a key that may see its level. Counts for the dashboard
also include alerts whose customer is unknown (restricted for detail, but nobody may miss that
they exist); a count carries no detail.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_routing.adapters.tables import alerts
from mailintake_routing.domain.alerts import ActionTaken, AlertState, Merge, NewAlert


def state_of(row: dict[str, Any]) -> AlertState:
    return AlertState(
        alert_id=row["alert_id"],
        status=row["status"],
        categories=tuple(row["categories"]),
        queue=row["queue"],
        customer_ids=tuple(row["customer_ids"]),
        racs_level=row["racs_level"],
        customer_unknown=row["customer_unknown"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        outcome=row["outcome"],
        note=row["note"],
    )


async def insert_new(conn: AsyncConnection, document_id: str, new: NewAlert) -> str | None:
    """A new open alert for the document; None when it already has one."""
    row = (
        await conn.execute(
            insert(alerts)
            .values(
                alert_id=uuid.uuid4().hex,
                document_id=document_id,
                queue=new.queue,
                customer_ids=list(new.customer_ids),
                categories=list(new.categories),
                racs_level=new.racs_level,
                customer_unknown=new.customer_unknown,
            )
            .on_conflict_do_nothing()
            .returning(alerts.c.alert_id)
        )
    ).first()
    return row.alert_id if row else None


async def get(
    conn: AsyncConnection, *, alert_id: str | None = None, document_id: str | None = None
) -> dict[str, Any] | None:
    """One alert by id or by document, locked for the rest of the transaction."""
    query = select(alerts).with_for_update()
    query = query.where(alerts.c.alert_id == alert_id) if alert_id else query.where(alerts.c.document_id == document_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def apply_merge(conn: AsyncConnection, alert_id: str, merge: Merge) -> None:
    values: dict[str, Any] = {
        "categories": list(merge.categories),
        "status": merge.status,
        "queue": merge.queue,
        "customer_ids": list(merge.customer_ids),
        "racs_level": merge.racs_level,
        "customer_unknown": merge.customer_unknown,
    }
    if merge.reopened:
        values |= {"acknowledged_at": None, "acknowledged_by": None, "closed_at": None, "closed_by": None}
    await conn.execute(update(alerts).where(alerts.c.alert_id == alert_id).values(**values))


async def apply_action(conn: AsyncConnection, alert_id: str, taken: ActionTaken) -> dict[str, Any]:
    row = (
        (
            await conn.execute(
                update(alerts)
                .where(alerts.c.alert_id == alert_id)
                .values(
                    status=taken.status,
                    acknowledged_at=taken.acknowledged_at,
                    acknowledged_by=taken.acknowledged_by,
                    closed_at=taken.closed_at,
                    closed_by=taken.closed_by,
                    outcome=taken.outcome,
                    note=taken.note,
                )
                .returning(*alerts.c)
            )
        )
        .mappings()
        .one()
    )
    return dict(row)


async def list_alerts(conn: AsyncConnection, status: str | None, max_racs: int, limit: int) -> list[dict[str, Any]]:
    query = select(alerts).where(alerts.c.racs_level <= max_racs).order_by(alerts.c.raised_at.desc()).limit(limit)
    if status:
        query = query.where(alerts.c.status == status)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def counts(conn: AsyncConnection, max_racs: int) -> dict[str, dict[str, Any]]:
    """Open and acknowledged alerts: how many, and when the oldest of each was raised (and its age)."""
    now = func.now()
    rows = await conn.execute(
        select(
            alerts.c.status,
            func.count().label("count"),
            func.min(alerts.c.raised_at).label("oldest_raised_at"),
            func.extract("epoch", now - func.min(alerts.c.raised_at)).label("oldest_age_s"),
        )
        .where(
            alerts.c.status.in_(("open", "acknowledged")),
            or_(alerts.c.racs_level <= max_racs, alerts.c.customer_unknown),
        )
        .group_by(alerts.c.status)
    )
    found = {r.status: r for r in rows}
    return {
        status: {
            "count": found[status].count if status in found else 0,
            "oldest_raised_at": found[status].oldest_raised_at.isoformat() if status in found else None,
            "oldest_age_s": int(found[status].oldest_age_s) if status in found else None,
        }
        for status in ("open", "acknowledged")
    }


async def follow_routing(
    conn: AsyncConnection, document_id: str, queue: str, customer_ids: list[str], racs_level: int
) -> None:
    """A routed-again document's alert names its new queue and customers, and is seen only by
    those who may see the document."""
    await conn.execute(
        update(alerts)
        .where(alerts.c.document_id == document_id)
        .values(queue=queue, customer_ids=customer_ids, racs_level=racs_level)
    )
