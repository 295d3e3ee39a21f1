"""Routing's HTTP routes (SPEC 3): the directory, queues, reroutes, and alerts and the work on them.

RACS: every listing and count only includes documents whose RACS level the caller's key may
see; anything else is treated as if it did not exist (404, not 403).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mailintake_common.auth import Principal, require_scope
from mailintake_common.errors import ApiError
from mailintake_common.events import AlertOutcome, AlertStatus, queue_topic
from mailintake_common.pagination import decode_cursor, encode_cursor
from mailintake_common.validation import StoredText
from mailintake_common.web import EngineDep
from mailintake_routing import commands
from mailintake_routing.adapters import alerts, feed, queues
from mailintake_routing.commands import known_queues
from mailintake_routing.domain.feed import feed_entry
from mailintake_routing.domain.reroute import RerouteRequest
from mailintake_routing.handlers import act_on, complete

router = APIRouter(prefix="/v1", tags=["routing"])
ReadKey = Annotated[Principal, Depends(require_scope("ops:read"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
WriteKey = Annotated[Principal, Depends(require_scope("ops:write"))]


class CustomerRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: StoredText = Field(min_length=1, max_length=64)
    crn: StoredText
    given_name: StoredText = Field(min_length=1, max_length=200)
    family_name: StoredText = Field(min_length=1, max_length=200)
    date_of_birth: date | None = None
    emails: list[StoredText] = Field(default_factory=list, max_length=20)
    racs_level: int = Field(0, ge=0, le=3)
    # The child support cases the customer is a party to: the two parents of a case share its id
    case_ids: list[StoredText] = Field(default_factory=list, max_length=100)


class OrganisationRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation_id: StoredText = Field(min_length=1, max_length=64)
    name: StoredText = Field(min_length=1, max_length=300)
    abn: StoredText | None = None
    email_domains: list[StoredText] = Field(default_factory=list, max_length=50)
    sender_addresses: list[StoredText] = Field(default_factory=list, max_length=200)  # registered senders (seed 000)
    kind: Literal["employer", "overseas_entity", "government"]
    secure_messaging: bool = False
    in_liquidation: bool = False


@router.put("/directory/customers")
async def put_customers(
    body: Annotated[list[CustomerRecord], Field(max_length=10_000)], request: Request, engine: EngineDep, _: AdminKey
) -> dict[str, int]:
    """Upsert customers. A CRN that is not 9 digits and a letter gets 422 naming the record.
    Items waiting to be identified that a record now matches are routed again."""
    settings = request.app.state.settings
    return await commands.upsert_customers(engine, [r.model_dump() for r in body], settings)


@router.put("/directory/organisations")
async def put_organisations(
    body: Annotated[list[OrganisationRecord], Field(max_length=10_000)],
    request: Request,
    engine: EngineDep,
    _: AdminKey,
) -> dict[str, int]:
    """Upsert organisations. An ABN failing the ABN checksum gets 422 naming the record.
    Items waiting to be identified that a record now matches are routed again."""
    settings = request.app.state.settings
    return await commands.upsert_organisations(engine, [r.model_dump() for r in body], settings)


@router.get("/queues")
async def get_queues(engine: EngineDep, principal: ReadKey) -> list[dict[str, Any]]:
    """Every known queue with its depth, oldest item, priority depth and overdue count."""
    async with engine.connect() as conn:
        found = await queues.depths(conn, principal.racs_level)
    names = known_queues() + sorted(set(found) - set(known_queues()))
    if principal.racs_level == 0:
        names = [n for n in names if n != "racs" or n in found]
    return [
        {
            "queue": name,
            "depth": found.get(name, {}).get("depth", 0),
            "oldest_at": _iso(found.get(name, {}).get("oldest_at")),
            "priority_depth": found.get(name, {}).get("priority_depth", 0),
            "overdue": found.get(name, {}).get("overdue", 0),
        }
        for name in names
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _item_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "document_id": row["document_id"],
        "queue": row["queue"],
        "category": row["category"],
        "sub_category": row["sub_category"],
        "exemption": row["exemption"],
        "priority": row["priority"],
        "due_by": _iso(row["due_by"]),
        "customer_ids": list(row["customer_ids"]),
        "organisation_id": row["organisation_id"],
        "at_risk": row["at_risk"],
        "reasons": row["reasons"],
        "routed_at": _iso(row["routed_at"]),
        "status": "open" if row["completed_at"] is None else "completed",
        "completed_at": _iso(row["completed_at"]),
        "completed_by": row["completed_by"],
        "outcome": row["outcome"],
        "note": row["note"],
    }


@router.get("/queues/{queue}/items")
async def get_queue_items(
    queue: str,
    engine: EngineDep,
    principal: ReadKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
    status: Annotated[queues.ItemStatus, Query()] = "open",
) -> dict[str, Any]:
    """A queue's items (open by default, or completed, or all), oldest first, keyset-paginated."""
    async with engine.connect() as conn:
        rows = await queues.list_items(conn, queue[:64], limit + 1, decode_cursor(cursor), principal.racs_level, status)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1]["routed_at"], page[-1]["document_id"]) if more and page else None
    return {"items": [_item_json(r) for r in page], "next_cursor": next_cursor}


def _position(cursor: str | None) -> feed.Position | None:
    decoded = decode_cursor(cursor)
    if decoded is None:
        return None
    if not decoded[1].isdigit():
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned")
    return decoded[0], int(decoded[1])


def _feed_cursor(row: dict[str, Any] | feed.Position) -> str:
    at, row_id = (row["published_at"], row["id"]) if isinstance(row, dict) else row
    return encode_cursor(at, str(row_id))


@router.get("/queues/{queue}/events")
async def get_queue_events(
    queue: str,
    engine: EngineDep,
    principal: ReadKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """The events routing published to `mail.queue.QUEUE` (what `mailintake tail` shows): ids,
    event types and the routing decision only, for documents the key's RACS level may see.

    Newest first, `next_cursor` paging to older ones. `poll_cursor` marks where this answer
    ends: `?after=<poll_cursor>` returns what was published since, oldest first, with the next
    `poll_cursor` (`more` says a full page came back: ask again at once)."""
    since, before = _position(after), _position(cursor)
    topic = queue_topic(queue[:64])
    async with engine.connect() as conn:
        rows = await feed.queue_events(
            conn, topic, principal.racs_level, limit + 1, before=None if since else before, after=since
        )
        page, more = rows[:limit], len(rows) > limit
        if since is not None:
            poll: str | None = _feed_cursor(page[-1]) if page else after
        elif before is None:
            poll = _feed_cursor(page[0]) if page else _feed_cursor(await feed.last_published(conn))
        else:
            poll = None  # an older page: follow from the first page's poll_cursor
    return {
        "items": [feed_entry(bytes(r["value"]), r["published_at"]) for r in page],
        "next_cursor": _feed_cursor(page[-1]) if more and page and since is None else None,
        "poll_cursor": poll,
        "more": more,
    }


class ItemWork(BaseModel):
    """An officer completing an item. The note may hold personal details: stored on the item
    only, never logged nor put on the timeline. Its length limit is a setting."""

    model_config = ConfigDict(extra="forbid")
    outcome: StoredText = Field(max_length=200)
    note: StoredText = Field(default="", max_length=100_000)


@router.post("/queues/{queue}/items/{document_id}/complete")
async def complete_item(
    queue: str, document_id: str, body: ItemWork, request: Request, engine: EngineDep, principal: WriteKey
) -> dict[str, Any]:
    """Complete an open item (ops:write; 409 once completed): it leaves depth, oldest and overdue."""
    settings = request.app.state.settings
    row = await complete(engine, queue[:64], document_id[:64], body.outcome, body.note, principal, settings)
    return _item_json(row)


class Reroute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue: StoredText = Field(min_length=1, max_length=64)
    reason: StoredText = Field(min_length=1, max_length=1000)
    # SPEC 3 "Work after routing": rerouting may also attach the item
    customer_ids: list[StoredText] | None = Field(default=None, max_length=50)
    organisation_id: StoredText | None = Field(default=None, min_length=1, max_length=64)


@router.post("/queues/{queue}/items/{document_id}/reroute")
async def reroute(
    queue: str, document_id: str, body: Reroute, request: Request, engine: EngineDep, principal: AdminKey
) -> dict[str, Any]:
    """Move an item to another queue, recording who moved it and why (audited, on the timeline);
    `customer_ids` or `organisation_id` attach it to those directory records."""
    wanted = RerouteRequest(body.queue, body.reason, principal.actor, body.customer_ids, body.organisation_id)
    trace_id = getattr(request.state, "trace_id", None)
    return await commands.reroute(engine, queue[:64], document_id[:64], wanted, principal, trace_id)


def _alert_json(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": r["alert_id"],
        "document_id": r["document_id"],
        "queue": r["queue"],
        "customer_ids": list(r["customer_ids"]),
        "categories": list(r["categories"]),
        "status": r["status"],
        "raised_at": _iso(r["raised_at"]),
        "acknowledged_at": _iso(r["acknowledged_at"]),
        "acknowledged_by": r["acknowledged_by"],
        "closed_at": _iso(r["closed_at"]),
        "closed_by": r["closed_by"],
        "outcome": r["outcome"],
        "note": r["note"],
    }


@router.get("/alerts")
async def get_alerts(
    engine: EngineDep,
    principal: ReadKey,
    status: Annotated[AlertStatus | None, Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Alerts, newest first (categories only: the matched phrases stay on the document)."""
    async with engine.connect() as conn:
        rows = await alerts.list_alerts(conn, status, principal.racs_level, limit)
    return {"items": [_alert_json(r) for r in rows]}


class AlertWork(BaseModel):
    """An officer's action on an alert. The note may hold personal details: it is stored on the
    alert only, never logged nor put on the timeline. Its length limit is a setting."""

    model_config = ConfigDict(extra="forbid")
    outcome: AlertOutcome | None = None
    note: StoredText = Field(default="", max_length=100_000)


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: str, request: Request, engine: EngineDep, principal: WriteKey, body: AlertWork | None = None
) -> dict[str, Any]:
    """Acknowledge an open alert (409 once acknowledged or closed); the outcome is optional."""
    work = body or AlertWork()
    settings = request.app.state.settings
    row = await act_on(engine, alert_id[:64], "acknowledge", work.outcome, work.note, principal, settings)
    return _alert_json(row)


@router.post("/alerts/{alert_id}/close")
async def close_alert(
    alert_id: str, body: AlertWork, request: Request, engine: EngineDep, principal: WriteKey
) -> dict[str, Any]:
    """Close an alert with an outcome (closing an open one acknowledges it too; 409 once closed)."""
    settings = request.app.state.settings
    row = await act_on(engine, alert_id[:64], "close", body.outcome, body.note, principal, settings)
    return _alert_json(row)
