"""Routing's commands outside the event stream (SPEC 3): directory upserts, which route again
the waiting items they identify (issue 14), and an officer's reroute, which may attach
customers or an organisation. Called by the HTTP routes (and so by the CLI); each is one unit
of work, and every decision is made by a pure domain function.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common.auth import Principal
from mailintake_common.db import UnitOfWork, unit_of_work
from mailintake_common.domain_errors import Conflict, NotFound
from mailintake_common.events import EXEMPTION_QUEUES, DocumentClassifiedV1
from mailintake_routing.adapters import alerts, awaiting, directory, queues, racs
from mailintake_routing.domain.alerts import UNKNOWN_CUSTOMER_RACS_LEVEL
from mailintake_routing.domain.automatic import AutomaticMailPolicy
from mailintake_routing.domain.directory import customer_records, organisation_records
from mailintake_routing.domain.matrix import default_matrix
from mailintake_routing.domain.model import Decision
from mailintake_routing.domain.racs import relevelled
from mailintake_routing.domain.reroute import RerouteRequest, check_target, identified_again, rerouted
from mailintake_routing.domain.rules import Context
from mailintake_routing.handlers import announce, make_context, route_payload
from mailintake_routing.settings import RoutingSettings

log = logging.getLogger(__name__)


def known_queues() -> list[str]:
    return list(EXEMPTION_QUEUES) + default_matrix().categories


async def upsert_customers(
    engine: AsyncEngine, body: list[dict[str, Any]], settings: RoutingSettings
) -> dict[str, int]:
    """Upsert customers; waiting items one of them now matches are routed again, and the work of
    a customer whose RACS level changed takes the new level (issue 15), in the same transaction."""
    records = customer_records(body)
    async with unit_of_work(engine) as uow:
        await awaiting.hold_still(uow.conn)  # no routing leaves an item waiting unseen by this change
        before = await directory.customers_by_id(uow.conn, [r["customer_id"] for r in records], for_update=True)
        try:
            count = await directory.upsert_customers(uow.conn, records)
        except directory.DirectoryConflict as conflict:
            raise Conflict(
                "crn_conflict",
                f"record {conflict.index} (customer_id {records[conflict.index]['customer_id']}): "
                "this crn already belongs to another customer",
            ) from None
        waiting = await awaiting.matching_customers(uow.conn, records)
        again = await identify_again(uow, waiting, "customer records updated", settings)
        was = {c.customer_id: c.racs_level for c in before}
        changed = {
            r["customer_id"]: r["racs_level"]
            for r in records
            if r["customer_id"] in was and was[r["customer_id"]] != r["racs_level"]
        }
        await relevel(uow, changed, settings.racs_relevel_lowers)
    return {"upserted": count, "identified_again": again}


async def upsert_organisations(
    engine: AsyncEngine, body: list[dict[str, Any]], settings: RoutingSettings
) -> dict[str, int]:
    """Upsert organisations; waiting items one of them now matches are routed again."""
    records = organisation_records(body)
    async with unit_of_work(engine) as uow:
        await awaiting.hold_still(uow.conn)  # no routing leaves an item waiting unseen by this change
        try:
            count = await directory.upsert_organisations(uow.conn, records)
        except directory.DirectoryConflict as conflict:
            raise Conflict(
                "abn_conflict",
                f"record {conflict.index} (organisation_id {records[conflict.index]['organisation_id']}): "
                "this abn already belongs to another organisation",
            ) from None
        waiting = await awaiting.matching_organisations(uow.conn, records)
        again = await identify_again(uow, waiting, "organisation records updated", settings)
    return {"upserted": count, "identified_again": again}


async def identify_again(
    uow: UnitOfWork, waiting: list[dict[str, Any]], change: str, settings: RoutingSettings, ctx: Context | None = None
) -> int:
    """Decide each waiting item again against the directory as it now is; move those now identified."""
    ctx = ctx or make_context(settings)
    policy = AutomaticMailPolicy.from_settings(settings.automatic_reply_values, settings.securemail_senders)
    moved = 0
    for row in waiting:
        document_id = row["document_id"]
        item = await queues.get_item(uow.conn, document_id, for_update=True)
        if item is None or item["queue"] != row["queue"]:
            await awaiting.forget(uow.conn, document_id)  # an officer moved it meanwhile
            continue
        try:
            payload = DocumentClassifiedV1.model_validate(row["classified"])
        except ValueError:  # kept by an older release in a shape this one cannot read: a person has it
            log.warning("waiting item unreadable", extra={"document_id": document_id})
            await awaiting.forget(uow.conn, document_id)
            continue
        decision = identified_again(row["queue"], await route_payload(uow.conn, payload, settings, ctx, policy), change)
        if decision is None:
            continue
        await move(uow, document_id, decision, item["at_risk"], None)
        await awaiting.forget(uow.conn, document_id)
        moved += 1
        log.info("identified again", extra={"document_id": document_id, "queue": decision.queue})
    return moved


async def move(uow: UnitOfWork, document_id: str, decision: Decision, at_risk: bool, trace_id: str | None) -> None:
    """Place a routed item again: its queue item, its alert, the document and the events."""
    await queues.place(uow.conn, document_id, decision, at_risk)
    await alerts.follow_routing(uow.conn, document_id, decision.queue, decision.customer_ids, decision.racs_level)
    await announce(uow, document_id, decision, at_risk, trace_id)


async def reroute(
    engine: AsyncEngine,
    queue: str,
    document_id: str,
    request: RerouteRequest,
    principal: Principal,
    trace_id: str | None,
) -> dict[str, Any]:
    """An officer moves an item, and may attach customers or an organisation (SPEC 3)."""
    check_target(request.queue, known_queues())
    async with unit_of_work(engine) as uow:
        item = await queues.get_item(uow.conn, document_id, for_update=True)
        if item is None or item["queue"] != queue or not principal.can_see(item["racs_level"]):
            raise NotFound("not_found", "no such item in this queue")
        customers = await directory.customers_by_id(uow.conn, request.customer_ids or [])
        organisation = (
            await directory.organisation_by_id(uow.conn, request.organisation_id) if request.organisation_id else None
        )
        decision = rerouted(item, request, customers, organisation)
        await queues.record_reroute(uow.conn, document_id, queue, request.queue, request.reason, principal.key_id)
        await move(uow, document_id, decision, item["at_risk"], trace_id)
        await awaiting.forget(uow.conn, document_id)
    return {
        "document_id": document_id,
        "from_queue": queue,
        "queue": request.queue,
        "rerouted_by": principal.key_id,
        "customer_ids": decision.customer_ids,
        "organisation_id": decision.organisation_id,
    }


async def relevel(uow: UnitOfWork, changed: dict[str, int], lowers: bool) -> None:
    """Customers whose RACS level changed: their queue items, alerts and routed documents follow."""
    if not changed:
        return
    ids = sorted(changed)
    items = await racs.items_of(uow.conn, ids)
    found = await directory.customers_by_id(uow.conn, sorted({c for i in items for c in i["customer_ids"]} | set(ids)))
    levels = {c.customer_id: c.racs_level for c in found}
    for item in items:
        level = relevelled(item["racs_level"], item["customer_ids"], levels, lowers=lowers)
        if level is None:
            continue
        await racs.set_item_level(uow.conn, item["document_id"], level)
        if await racs.set_document_level(uow.conn, item["document_id"], level):
            reason = f"RACS level of an attached customer changed: now {level} (was {item['racs_level']})"
            await uow.documents.add_timeline(item["document_id"], "racs", "relevelled", [reason])
    for alert in await racs.alerts_of(uow.conn, ids):
        missing = {c for c in alert["customer_ids"] if c not in levels}
        levels |= {c.customer_id: c.racs_level for c in await directory.customers_by_id(uow.conn, sorted(missing))}
        floor = UNKNOWN_CUSTOMER_RACS_LEVEL if alert["customer_unknown"] else 0
        level = relevelled(alert["racs_level"], alert["customer_ids"], levels, lowers=lowers, floor=floor)
        if level is not None:
            await racs.set_alert_level(uow.conn, alert["alert_id"], level)
    log.info("relevelled", extra={"customers": len(ids), "items": len(items)})
