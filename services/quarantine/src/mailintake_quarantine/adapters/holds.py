"""Held items: the quarantine list and its releases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailintake_common.documents import document_racs_level
from mailintake_common.events import HoldReason, Verdict
from mailintake_common.tables import documents
from mailintake_quarantine.adapters.tables import quarantine_items


async def hold(
    conn: AsyncConnection,
    document_id: str,
    verdict: Verdict,
    reasons: list[HoldReason],
    findings: list[dict[str, str]],
    received: dict[str, Any],
) -> None:
    stmt = insert(quarantine_items).values(
        document_id=document_id, verdict=verdict, reasons=reasons, findings=findings, received=received
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["document_id"],
            set_={
                "verdict": verdict,
                "reasons": reasons,
                "findings": findings,
                "held_at": func.now(),
                # Held again (a re-screen after release found something): listed again, but who
                # released it and why stay on the row for the audit trail.
                "released_at": None,
            },
        )
    )


async def get(conn: AsyncConnection, document_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = (
        select(quarantine_items, document_racs_level().label("racs_level"))
        .join(documents, documents.c.document_id == quarantine_items.c.document_id)
        .where(quarantine_items.c.document_id == document_id)
    )
    if for_update:
        query = query.with_for_update(of=quarantine_items)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def mark_released(conn: AsyncConnection, document_id: str, key_id: str, reason: str) -> None:
    await conn.execute(
        update(quarantine_items)
        .where(quarantine_items.c.document_id == document_id)
        .values(released_at=func.now(), released_by=key_id, release_reason=reason)
    )


async def list_held(
    conn: AsyncConnection, *, reason: str | None, limit: int, after: tuple[datetime, str] | None, max_racs: int
) -> list[dict[str, Any]]:
    """Held (not released) items, oldest first, keyset-paginated by (held_at, document_id)."""
    query = (
        select(quarantine_items, documents.c.channel, documents.c.received_at)
        .join(documents, documents.c.document_id == quarantine_items.c.document_id)
        .where(quarantine_items.c.released_at.is_(None), document_racs_level() <= max_racs)
        .order_by(quarantine_items.c.held_at, quarantine_items.c.document_id)
        .limit(limit)
    )
    if reason:
        query = query.where(quarantine_items.c.reasons.any(reason))
    if after:
        query = query.where(tuple_(quarantine_items.c.held_at, quarantine_items.c.document_id) > tuple_(*after))
    return [dict(r) for r in (await conn.execute(query)).mappings()]
