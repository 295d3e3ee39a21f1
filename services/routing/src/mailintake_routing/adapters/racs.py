"""The routed work attached to customers whose RACS level changed, and its new levels (issue 15).

Queue items and alerts are locked in document order, so two upserts cannot deadlock on them.
A document's level is only changed while it is known: a document that failed or is not yet
routed again stays "not yet known" (NULL, racs:3 only).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.tables import documents
from mailintake_routing.adapters.tables import alerts, queue_items


def _ids(values: list[str]):
    return literal(values, ARRAY(Text))


async def items_of(conn: AsyncConnection, customer_ids: list[str]) -> list[dict[str, Any]]:
    query = (
        select(queue_items.c.document_id, queue_items.c.customer_ids, queue_items.c.racs_level)
        .where(queue_items.c.customer_ids.overlap(_ids(customer_ids)))
        .order_by(queue_items.c.document_id)
        .with_for_update()
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def alerts_of(conn: AsyncConnection, customer_ids: list[str]) -> list[dict[str, Any]]:
    query = (
        select(alerts.c.alert_id, alerts.c.document_id, alerts.c.customer_ids, alerts.c.racs_level)
        .add_columns(alerts.c.customer_unknown)
        .where(alerts.c.customer_ids.overlap(_ids(customer_ids)))
        .order_by(alerts.c.document_id)
        .with_for_update()
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def set_item_level(conn: AsyncConnection, document_id: str, level: int) -> None:
    await conn.execute(update(queue_items).where(queue_items.c.document_id == document_id).values(racs_level=level))


async def set_alert_level(conn: AsyncConnection, alert_id: str, level: int) -> None:
    await conn.execute(update(alerts).where(alerts.c.alert_id == alert_id).values(racs_level=level))


async def set_document_level(conn: AsyncConnection, document_id: str, level: int) -> bool:
    """Whether the document's known level changed (an unknown level stays unknown)."""
    result = await conn.execute(
        update(documents)
        .where(documents.c.document_id == document_id, documents.c.racs_level.is_not(None))
        .values(racs_level=level)
    )
    return bool(result.rowcount)
