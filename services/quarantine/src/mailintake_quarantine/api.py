"""Quarantine's HTTP routes (SPEC 3): the list of held items and releasing them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mailintake_common.auth import Principal, require_scope
from mailintake_common.db import unit_of_work
from mailintake_common.errors import ApiError
from mailintake_common.events import DocumentReceivedV1
from mailintake_common.pagination import decode_cursor, encode_cursor
from mailintake_common.validation import StoredText
from mailintake_common.web import EngineDep
from mailintake_quarantine.adapters import holds
from mailintake_quarantine.handlers import record, screen

router = APIRouter(prefix="/v1", tags=["quarantine"])
ReadKey = Annotated[Principal, Depends(require_scope("ops:read"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
REASONS = ("encrypted", "media", "harmful", "size")


@router.get("/quarantine")
async def list_quarantine(
    engine: EngineDep,
    principal: ReadKey,
    reason: Annotated[str | None, Query(description="encrypted, media, harmful or size")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Items held by quarantine (not yet released), oldest first, with their reasons and findings."""
    if reason is not None and reason not in REASONS:
        raise ApiError(422, "invalid_reason", f"reason must be one of {', '.join(REASONS)}")
    async with engine.connect() as conn:
        rows = await holds.list_held(
            conn, reason=reason, limit=limit + 1, after=decode_cursor(cursor), max_racs=principal.racs_level
        )
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [
            {
                "document_id": r["document_id"],
                "channel": r["channel"],
                "verdict": r["verdict"],
                "reasons": list(r["reasons"]),
                "findings": r["findings"],
                "held_at": r["held_at"].isoformat(),
                "received_at": r["received_at"].isoformat(),
                "releasable": r["verdict"] == "manual_adjustment",
            }
            for r in page
        ],
        "next_cursor": encode_cursor(page[-1]["held_at"], page[-1]["document_id"]) if more and page else None,
    }


DEFAULT_RELEASE_REASON = "adjusted by the mailbox team"


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: StoredText = Field(
        DEFAULT_RELEASE_REASON,
        min_length=1,
        max_length=1000,
        description="what was adjusted, for the audit trail",
    )


@router.post("/quarantine/{document_id}/release")
async def release(
    document_id: str, request: Request, engine: EngineDep, principal: AdminKey, body: Release | None = None
) -> dict[str, Any]:
    """Release a manual-adjustment item after adjustment: it is screened again with the size
    limits waived (every other rule still applies) and continues to classification.
    Encrypted, media and harmful items are never released (409)."""
    async with engine.connect() as conn:
        item = await holds.get(conn, document_id[:64])
    if item is None or not principal.can_see(item["racs_level"]):
        raise ApiError(404, "not_found", "no such held item")
    if item["verdict"] != "manual_adjustment":
        held_for = ", ".join(r for r in item["reasons"] if r != "size") or "harmful content"
        raise ApiError(409, "not_releasable", f"held for {held_for}: quarantined items are never released")
    if item["released_at"] is not None:
        raise ApiError(409, "already_released", "this item was already released")
    received = DocumentReceivedV1.model_validate(item["received"])
    result = await screen(
        engine, request.app.state.settings, received, request.app.state.screening_pool, waive_size=True
    )
    async with unit_of_work(engine) as uow:
        locked = await holds.get(uow.conn, document_id, for_update=True)
        if locked is None or locked["released_at"] is not None:
            raise ApiError(409, "already_released", "this item was already released")
        await holds.mark_released(
            uow.conn, document_id, principal.key_id, body.reason if body else DEFAULT_RELEASE_REASON
        )
        note = f"released after adjustment by key {principal.key_id}"
        await record(uow, document_id, received, result, getattr(request.state, "trace_id", None), note=note)
    return {"document_id": document_id, "status": "released", "verdict": result.verdict}
