"""Routing's HTTP routes (SPEC 3): the directory, queues, reroutes, and alerts and the work on them.

RACS: every listing and count only includes documents whose RACS level the caller's key may
see; anything else is treated as if it did not exist (404, not 403).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from mailintake_common.auth import Principal, require_scope
from mailintake_common.db import unit_of_work
from mailintake_common.errors import ApiError
from mailintake_common.events import AlertOutcome, AlertStatus
from mailintake_common.pagination import decode_cursor, encode_cursor
from mailintake_common.validation import StoredText
from mailintake_common.web import EngineDep
from mailintake_routing.adapters import alerts, directory, queues
from mailintake_routing.domain.matrix import default_matrix
from mailintake_routing.domain.model import EXEMPTION_QUEUES, Decision
from mailintake_routing.handlers import act_on, announce

router = APIRouter(prefix="/v1", tags=["routing"])
ReadKey = Annotated[Principal, Depends(require_scope("ops:read"))]
AdminKey = Annotated[Principal, Depends(require_scope("admin"))]
WriteKey = Annotated[Principal, Depends(require_scope("ops:write"))]
CRN = re.compile(r"^\d{9}[A-Z]$")
ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)


def known_queues() -> list[str]:
    return list(EXEMPTION_QUEUES) + default_matrix().categories


def abn_valid(abn: str) -> bool:
    if not re.fullmatch(r"\d{11}", abn):
        return False
    values = [int(d) for d in abn]
    values[0] -= 1
    return sum(v * w for v, w in zip(values, ABN_WEIGHTS, strict=True)) % 89 == 0


class CustomerRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: StoredText = Field(min_length=1, max_length=64)
    crn: StoredText
    given_name: StoredText = Field(min_length=1, max_length=200)
    family_name: StoredText = Field(min_length=1, max_length=200)
    date_of_birth: date | None = None
    emails: list[StoredText] = Field(default_factory=list, max_length=20)
    racs_level: int = Field(0, ge=0, le=3)


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
    body: Annotated[list[CustomerRecord], Field(max_length=10_000)], engine: EngineDep, _: AdminKey
) -> dict[str, int]:
    """Upsert customers. A CRN that is not 9 digits and a letter gets 422 naming the record."""
    records = []
    for index, record in enumerate(body):
        crn = record.crn.replace(" ", "").upper()
        if not CRN.match(crn):
            raise ApiError(
                422,
                "invalid_crn",
                f"record {index} (customer_id {record.customer_id}): crn must be 9 digits and a letter",
            )
        records.append({**record.model_dump(), "crn": crn, "emails": [e.strip().lower() for e in record.emails]})
    crns = [r["crn"] for r in records]
    if len(set(crns)) != len(crns):
        index = next(i for i, crn in enumerate(crns) if crns.index(crn) != i)
        raise ApiError(
            422,
            "duplicate_crn",
            f"record {index} (customer_id {body[index].customer_id}): the same crn appears twice in the request",
        )
    try:
        async with unit_of_work(engine) as uow:
            count = await directory.upsert_customers(uow.conn, records)
    except directory.DirectoryConflict as conflict:
        record = body[conflict.index]
        raise ApiError(
            409,
            "crn_conflict",
            f"record {conflict.index} (customer_id {record.customer_id}): this crn already belongs to another customer",
        ) from None
    return {"upserted": count}


@router.put("/directory/organisations")
async def put_organisations(
    body: Annotated[list[OrganisationRecord], Field(max_length=10_000)], engine: EngineDep, _: AdminKey
) -> dict[str, int]:
    """Upsert organisations. An ABN failing the ABN checksum gets 422 naming the record."""
    records = []
    for index, record in enumerate(body):
        abn = (record.abn or "").replace(" ", "") or None
        if abn is not None and not abn_valid(abn):
            raise ApiError(
                422,
                "invalid_abn",
                f"record {index} (organisation_id {record.organisation_id}): "
                "abn is not a valid ABN (11 digits passing the checksum)",
            )
        records.append(
            {
                **record.model_dump(),
                "abn": abn,
                "email_domains": [d.strip().lower().lstrip("@") for d in record.email_domains],
                "sender_addresses": [a.strip().lower() for a in record.sender_addresses],
            }
        )
    try:
        async with unit_of_work(engine) as uow:
            count = await directory.upsert_organisations(uow.conn, records)
    except directory.DirectoryConflict as conflict:
        record = body[conflict.index]
        raise ApiError(
            409,
            "abn_conflict",
            f"record {conflict.index} (organisation_id {record.organisation_id}): "
            "this abn already belongs to another organisation",
        ) from None
    return {"upserted": count}


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
    }


@router.get("/queues/{queue}/items")
async def get_queue_items(
    queue: str,
    engine: EngineDep,
    principal: ReadKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A queue's items, oldest first, keyset-paginated."""
    async with engine.connect() as conn:
        rows = await queues.list_items(conn, queue[:64], limit + 1, decode_cursor(cursor), principal.racs_level)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1]["routed_at"], page[-1]["document_id"]) if more and page else None
    return {"items": [_item_json(r) for r in page], "next_cursor": next_cursor}


class Reroute(BaseModel):
    model_config = ConfigDict(extra="forbid")
    queue: StoredText = Field(min_length=1, max_length=64)
    reason: StoredText = Field(min_length=1, max_length=1000)


@router.post("/queues/{queue}/items/{document_id}/reroute")
async def reroute(
    queue: str, document_id: str, body: Reroute, request: Request, engine: EngineDep, principal: AdminKey
) -> dict[str, Any]:
    """Move an item to another queue, recording who moved it and why (audited, on the timeline)."""
    if body.queue not in known_queues():
        raise ApiError(422, "unknown_queue", f"queue must be one of {', '.join(known_queues())}")
    async with unit_of_work(engine) as uow:
        item = await queues.get_item(uow.conn, document_id[:64], for_update=True)
        if item is None or item["queue"] != queue or not principal.can_see(item["racs_level"]):
            raise ApiError(404, "not_found", "no such item in this queue")
        decision = Decision(
            queue=body.queue,
            category=body.queue,
            sub_category=None if body.queue in EXEMPTION_QUEUES else item["sub_category"],
            exemption=body.queue in EXEMPTION_QUEUES,
            priority=item["priority"],
            due_by=item["due_by"],
            customer_ids=list(item["customer_ids"]),
            organisation_id=item["organisation_id"],
            reasons=[*item["reasons"], f"rerouted from {queue} by key {principal.key_id}: {body.reason}"],
            racs_level=item["racs_level"],
            rule="reroute",
        )
        await queues.place(uow.conn, document_id, decision, item["at_risk"])
        await queues.record_reroute(uow.conn, document_id, queue, body.queue, body.reason, principal.key_id)
        await announce(uow, document_id, decision, item["at_risk"], getattr(request.state, "trace_id", None))
    return {"document_id": document_id, "from_queue": queue, "queue": body.queue, "rerouted_by": principal.key_id}


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
