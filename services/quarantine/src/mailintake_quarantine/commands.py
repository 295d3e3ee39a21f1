"""Quarantine's commands: what an officer asks of held items, over the pure rules in domain/."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.auth import Principal
from mailintake_common.db import unit_of_work
from mailintake_common.events import DocumentReceivedV1
from mailintake_common.spool import spool
from mailintake_common.workers import SupervisedPool
from mailintake_quarantine.adapters import holds
from mailintake_quarantine.domain.release import Hold, refuse_release
from mailintake_quarantine.handlers import record, screen
from mailintake_quarantine.settings import QuarantineSettings


def hold_of(row: dict[str, Any] | None, principal: Principal) -> Hold | None:
    if row is None:
        return None
    return Hold(
        row["verdict"], tuple(row["reasons"]), row["released_at"] is not None, principal.can_see(row["racs_level"])
    )


async def release_item(
    engine: AsyncEngine,
    settings: QuarantineSettings,
    pool: SupervisedPool,
    document_id: str,
    principal: Principal,
    reason: str,
    trace_id: str | None,
) -> dict[str, Any]:
    """Screen a manual-adjustment item again with the size limits waived (every other rule still
    applies) and send it on to classification; refused with the rule's reason otherwise."""
    async with engine.connect() as conn:
        row = await holds.get(conn, document_id[:64])
    refuse_release(hold_of(row, principal))
    assert row is not None  # refuse_release raised otherwise
    received = DocumentReceivedV1.model_validate(row["received"])
    async with spool(settings) as parts_spool:  # large parts as files, removed when done (issue 17)
        result = await screen(engine, settings, received, pool, parts_spool, waive_size=True)
        async with unit_of_work(engine) as uow:
            locked = await holds.get(uow.conn, document_id, for_update=True)
            refuse_release(hold_of(locked, principal))  # released meanwhile by another request
            await holds.mark_released(uow.conn, document_id, principal.key_id, reason)
            note = f"released after adjustment by {principal.actor}"
            await record(uow, document_id, received, result, trace_id, note=note)
    return {"document_id": document_id, "status": "released", "verdict": result.verdict}
