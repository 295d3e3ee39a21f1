"""Quarantine's HTTP routes (SPEC 3): the list of held items and releasing them."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mailintake_common.auth import Principal, require_scope
from mailintake_common.errors import ApiError
from mailintake_common.events import HoldReason
from mailintake_common.pagination import decode_cursor, encode_cursor
from mailintake_common.validation import StoredText
from mailintake_common.web import EngineDep
from mailintake_quarantine.adapters import holds
from mailintake_quarantine.commands import release_item
from mailintake_quarantine.domain.release import releasable

router = APIRouter(prefix="/v1", tags=["quarantine"])
ReadKey = Annotated[Principal, Depends(require_scope("ops:read"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
REASONS: tuple[HoldReason, ...] = get_args(HoldReason)


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
                "releasable": releasable(r["verdict"]),
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
    return await release_item(
        engine,
        request.app.state.settings,
        request.app.state.screening_pool,
        document_id,
        principal,
        body.reason if body else DEFAULT_RELEASE_REASON,
        getattr(request.state, "trace_id", None),
    )
