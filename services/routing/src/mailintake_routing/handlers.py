"""Routing's handlers: identify, decide one queue, place it, alert, announce; and the alert commands.

Directory lookups and the duplicate check happen in one unit of work with the decision, the
queue item, the document's routing block, the alert and the events, so a document is routed
once and everything about it commits together; what it writes is written only if the directory
is still as the look-up read it, else the unit runs again (`adapters/lookup.py`). A dead letter from any stage raises a
`could_not_be_checked` alert (issue 13); officers' acknowledge and close are commands here,
called by the HTTP routes (and so by the CLI).

A v2 `classified` event carries decisions only: routing joins it with the classifier's details
(identifiers, names, passages) read in the same unit of work, and announces alerts without the
passages (`mailintake_common.details`, issue 15).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailintake_common import details
from mailintake_common import observability as obs
from mailintake_common.auth import Principal
from mailintake_common.consumer import HandlerContext
from mailintake_common.db import UnitOfWork, unit_of_work
from mailintake_common.dlq import DeadLetterV1
from mailintake_common.domain_errors import NotFound
from mailintake_common.events import (
    EVENT_QUEUED,
    TOPIC_ALERTS,
    TOPIC_ROUTED,
    AlertAction,
    AlertOutcome,
    AtRiskMatch,
    DocumentClassifiedV1,
    DocumentClassifiedV2,
    DocumentRoutedV1,
    Envelope,
    new_event,
    queue_topic,
)
from mailintake_common.handler_context import reads_details
from mailintake_common.writes import Writes
from mailintake_routing.adapters import alerts, awaiting, lookup, queues
from mailintake_routing.domain.alerts import (
    NewAlert,
    act_on_alert,
    alert_for_classified,
    alert_for_dead_letter,
    merge_alert,
)
from mailintake_routing.domain.automatic import AutomaticMailPolicy, automatic_mail
from mailintake_routing.domain.clock import HolidayCalendar, counted_from, due_by
from mailintake_routing.domain.duplicates import duplicate_key
from mailintake_routing.domain.identify import Clues, WriterClue, identify
from mailintake_routing.domain.matrix import RoutingMatrix, default_matrix
from mailintake_routing.domain.model import Decision, Item
from mailintake_routing.domain.reroute import reasons_for_events, still_awaiting
from mailintake_routing.domain.rules import Context, decide
from mailintake_routing.domain.work import complete_item
from mailintake_routing.settings import RoutingSettings

log = logging.getLogger(__name__)

# A directory upsert between a routing's look-up and its write makes it look again (lookup.py);
# upserts take turns, so a routing that keeps meeting them is rare: then the consumer retries.
LOOKS_AFTER_A_DIRECTORY_CHANGE = 3


def make_context(settings: RoutingSettings, matrix: RoutingMatrix | None = None) -> Context:
    extra = [date.fromisoformat(d.strip()) for d in settings.extra_holidays.split(",") if d.strip()]
    calendar = HolidayCalendar(settings.holiday_country, settings.holiday_subdivision, extra)
    hour, minute = (int(x) for x in settings.business_day_end.split(":"))

    def due(received_at: datetime | None) -> datetime:
        start = counted_from(received_at, datetime.now(UTC))
        return due_by(start, calendar, settings.business_timezone, time(hour, minute))

    return Context(
        matrix or default_matrix(),
        settings.review_image_min_confidence,
        due,
        two_party_sender_required=settings.two_party_sender_required,
    )


async def route_payload(
    conn: AsyncConnection,
    payload: DocumentClassifiedV1,
    settings: RoutingSettings,
    ctx: Context,
    policy: AutomaticMailPolicy | None = None,
    *,
    clues: Clues | None = None,
    document_id: str | None = None,
    writes: Writes | None = None,
    assume_first: bool = False,
) -> Decision:
    """Identify from the directory and decide: the same for a new item and one decided again.

    With the item's `document_id` and the unit's `writes` (a new item), the duplicate check goes
    in the directory's statement, one statement before the decision, and what the write statement
    must check in the writes (`adapters/lookup.py`, issue 18); with `assume_first`, an item with
    nothing else to look up is assumed to be the first with its content, which the writes check."""
    clues = clues or clues_of(payload)
    key = duplicate_key_of(payload) if document_id and writes is not None else None
    found = await lookup.seen_and_candidates(
        conn, clues, settings.fuzzy_candidates_max, key, document_id, writes, assume_first=assume_first
    )
    who = identify(
        clues,
        found.customers,
        found.organisations,
        settings.name_match_min_score,
        secure_mailbox=payload.mailbox == "secure",
        organisation_name_min_score=settings.organisation_name_min_score,
    )
    return decide(item_of(payload, found.duplicate_of, clues.sender_domain, policy), who, ctx)


async def keep_awaiting(
    conn: AsyncConnection,
    document_id: str,
    decision: Decision,
    payload: DocumentClassifiedV1,
    writes: Writes | None = None,
    clues: Clues | None = None,
) -> None:
    """Remember an item no one could be found for, so a directory change routes it again."""
    if still_awaiting(decision):
        classified = payload.model_dump_json()  # stored as it is (issue 18: not dumped, then encoded again)
        await awaiting.remember(conn, document_id, decision.queue, clues or clues_of(payload), classified, writes)
    else:
        await awaiting.forget(conn, document_id, writes)


def clues_of(payload: DocumentClassifiedV1) -> Clues:
    return Clues(
        crns=tuple(payload.identifiers.crn),
        abns=tuple(payload.identifiers.abn),
        emails=tuple(payload.identifiers.emails),
        sender=payload.email.from_address if payload.email else None,
        people=tuple((p.given_name, p.family_name, p.date_of_birth) for p in payload.people),
        writers=tuple(
            WriterClue(w.given_name, w.family_name, w.role or "sign_off", w.covering) for w in payload.writers
        ),
        organisation_names=tuple(payload.organisation_names),
    )


def item_of(
    payload: DocumentClassifiedV1,
    duplicate_of: str | None,
    sender_domain: str | None,
    policy: AutomaticMailPolicy | None = None,
) -> Item:
    email = payload.email.model_dump() if payload.email else None
    return Item(
        channel=payload.channel,
        verdict=payload.verdict,
        document_type=payload.document_type,
        priority=payload.priority,
        at_risk=payload.at_risk,
        ocr_confidence=payload.ocr_confidence,
        pages_total=len(payload.pages),
        pages_blank=sum(p.blank for p in payload.pages),
        separator=any(p.separator for p in payload.pages),
        missing_pages=payload.missing_pages,
        duplicate_of=duplicate_of,
        child_support_related=payload.child_support_related,
        intended_for_other_agency=payload.intended_for_other_agency,
        addressed_to_other_agency=payload.addressed_to_other_agency,
        overseas=payload.overseas,
        referrals=tuple(payload.referrals),
        mailbox=payload.mailbox,
        sender_domain=sender_domain,
        automatic_mail=automatic_mail(email, payload.securemail_wording, policy, payload.read_notice_wording),
        abns=tuple(payload.identifiers.abn),
        employer_correspondence=payload.employer_correspondence,
        deductions=tuple(payload.deductions),
        received_at=payload.received_at,
        type_note=payload.type_reasons[0] if payload.document_type is None and payload.type_reasons else None,
        several_forms=payload.several_forms,
    )


def duplicate_key_of(payload: DocumentClassifiedV1) -> str | None:
    email = payload.email
    return duplicate_key(
        payload.channel,
        payload.verdict,
        payload.content_sha256,
        sender=email.from_address if email else None,
        subject=email.subject if email else None,
    )


async def announce(uow: UnitOfWork, document_id: str, decision: Decision, at_risk: bool, trace_id: str | None) -> None:
    """Store the routing on the document and publish the routed and queued events."""
    await uow.documents.advance_later(
        document_id, "routed", result=decision.as_routing(), racs_level=decision.racs_level
    )
    await uow.documents.add_timeline(document_id, "routing", decision.queue, decision.reasons)
    routed = DocumentRoutedV1(
        queue=decision.queue,
        category=decision.category,
        sub_category=decision.sub_category,
        exemption=decision.exemption,
        priority=decision.priority,
        due_by=decision.due_by,
        customer_ids=decision.customer_ids,
        organisation_id=decision.organisation_id,
        reasons=reasons_for_events(decision.reasons),
        racs_level=decision.racs_level,
        at_risk=at_risk,
    )
    await uow.outbox.add(TOPIC_ROUTED, new_event(document_id, routed), trace_id=trace_id)
    queued = new_event(document_id, routed, event_type=EVENT_QUEUED, version=1)
    await uow.outbox.add(queue_topic(decision.queue), queued, trace_id=trace_id)


def make_handler(settings: RoutingSettings):
    ctx_rules = make_context(settings)
    policy = AutomaticMailPolicy.from_settings(settings.automatic_reply_values, settings.securemail_senders)

    @reads_details(details.ClassificationDetails)
    async def handle_classified(
        event: Envelope[DocumentClassifiedV1 | DocumentClassifiedV2],
        ctx: HandlerContext[DocumentClassifiedV1 | DocumentClassifiedV2],
    ) -> None:
        lost, assume_first = False, True
        for look in range(1, LOOKS_AFTER_A_DIRECTORY_CHANGE + 2):
            try:
                decision = await route_once(event, ctx, assume_first)
                break
            except lookup.LostBeforeWriting as exc:  # nothing was written: once more, on a fresh connection
                if lost:
                    raise exc.__cause__ or exc from None
                lost = True
            except DBAPIError as exc:  # nothing was written: look again at what is there now
                if not lookup.directory_changed(exc) or look > LOOKS_AFTER_A_DIRECTORY_CHANGE:
                    raise
                assume_first = False  # an exact duplicate, perhaps: its key is looked up this time
                log.info("routing looks again", extra={"document_id": event.document_id})
        else:
            raise AssertionError("unreachable")
        obs.STAGE_OUTCOMES.labels("routing", decision.queue).inc()
        log.info("routed", extra={"document_id": event.document_id, "queue": decision.queue, "rule": decision.rule})

    async def route_once(
        event: Envelope[DocumentClassifiedV1 | DocumentClassifiedV2],
        ctx: HandlerContext[DocumentClassifiedV1 | DocumentClassifiedV2],
        assume_first: bool,
    ) -> Decision:
        """One unit of work: an autocommitted look-up, then the claim with the writes, one
        autocommitted statement that writes nothing if the directory changed since (issue 18)."""
        async with ctx.unit_of_work(claim_with_writes=True) as uow:
            known = ctx.details_of(details.ClassificationDetails)  # fetched with the check-in (issue 18)
            if known is not None and isinstance(event.payload, DocumentClassifiedV2):
                payload = details.join_classified(event.payload, known)
            else:
                payload = await details.whole_classified(uow.conn, event.document_id, event.payload)
            clues = clues_of(payload)
            decision = await route_payload(
                uow.conn,
                payload,
                settings,
                ctx_rules,
                policy,
                clues=clues,
                document_id=event.document_id,
                writes=uow.writes,
                assume_first=assume_first,
            )
            await queues.place(uow.conn, event.document_id, decision, payload.at_risk, uow.writes)
            await keep_awaiting(uow.conn, event.document_id, decision, payload, uow.writes, clues)
            await announce(uow, event.document_id, decision, payload.at_risk, ctx.trace_id)
            wanted = alert_for_classified(
                payload.at_risk,
                [m.category for m in payload.at_risk_matches],
                payload.unchecked,
                decision.queue,
                decision.customer_ids,
                decision.racs_level,
                payload.at_risk_detector,
            )
            if wanted is not None:
                await raise_alert(uow, event.document_id, wanted, payload.at_risk_matches, ctx.trace_id)
        return decision

    return handle_classified


async def raise_alert(
    uow: UnitOfWork, document_id: str, wanted: NewAlert, matches: list[AtRiskMatch], trace_id: str | None
) -> None:
    """Raise the document's alert, or merge new reasons into the one it has; announce what is new."""
    alert_id = await alerts.insert_new(uow.conn, document_id, wanted)
    happened = "raised"
    if alert_id is not None:
        categories, queue, customer_ids = wanted.categories, wanted.queue, wanted.customer_ids
        await uow.documents.add_timeline(
            document_id, "alert", "raised", [f"alert {alert_id}: {', '.join(categories)}", *wanted.reasons]
        )
    else:
        row = await alerts.get(uow.conn, document_id=document_id)
        assert row is not None  # the insert conflicted on this document's alert
        merge = merge_alert(alerts.state_of(row), wanted)
        if merge is None:
            return
        await alerts.apply_merge(uow.conn, row["alert_id"], merge)
        await uow.documents.add_timeline(
            document_id, "alert", "reopened" if merge.reopened else "updated", list(merge.reasons)
        )
        if not merge.added:
            return
        alert_id, categories, queue, customer_ids = row["alert_id"], merge.categories, merge.queue, merge.customer_ids
        happened = "reopened" if merge.reopened else "updated"
    alert = details.alert_event(alert_id, queue, list(customer_ids), list(categories), matches, wanted.detector)
    await uow.outbox.add(TOPIC_ALERTS, new_event(document_id, alert), trace_id=trace_id)
    obs.ALERT_EVENTS.labels(happened).inc()


def make_dead_letter_handler():
    """A stage gave up on a document (`<topic>.dlq`): nobody checked it, so a person must (issue 13)."""

    async def handle_dead_letter(event: Envelope[DeadLetterV1], ctx: HandlerContext[DeadLetterV1]) -> None:
        letter = event.payload
        async with ctx.unit_of_work() as uow:
            if await uow.documents.get(event.document_id) is None:
                log.warning("dead letter for no known document", extra={"topic": letter.topic})
                return
            wanted = alert_for_dead_letter(letter.consumer, letter.topic, letter.error)
            await raise_alert(uow, event.document_id, wanted, [], ctx.trace_id)
        log.info("could not be checked", extra={"document_id": event.document_id, "topic": letter.topic})

    return handle_dead_letter


async def act_on(
    engine: AsyncEngine,
    alert_id: str,
    action: AlertAction,
    outcome: AlertOutcome | None,
    note: str,
    principal: Principal,
    settings: RoutingSettings,
) -> dict[str, Any]:
    """An officer acknowledges or closes an alert; the document's timeline says who (SPEC 3)."""
    async with unit_of_work(engine) as uow:
        row = await alerts.get(uow.conn, alert_id=alert_id)
        if row is None or not principal.can_see(row["racs_level"]):
            raise NotFound("not_found", "no such alert")
        taken = act_on_alert(
            alerts.state_of(row),
            action,
            outcome,
            note,
            principal.actor,
            datetime.now(UTC),
            settings.alert_note_max_chars,
        )
        updated = await alerts.apply_action(uow.conn, alert_id, taken)
        await uow.documents.add_timeline(row["document_id"], "alert", taken.status, list(taken.reasons))
    obs.ALERT_EVENTS.labels(taken.status).inc()
    log.info("alert worked", extra={"document_id": row["document_id"], "alert_id": alert_id, "outcome": taken.status})
    return updated


async def complete(
    engine: AsyncEngine,
    queue: str,
    document_id: str,
    outcome: str,
    note: str,
    principal: Principal,
    settings: RoutingSettings,
) -> dict[str, Any]:
    """An officer completes a queue item (SPEC 3); the document's timeline says who and how."""
    async with unit_of_work(engine) as uow:
        item = await queues.get_item(uow.conn, document_id, for_update=True)
        if item is None or item["queue"] != queue or not principal.can_see(item["racs_level"]):
            raise NotFound("not_found", "no such item in this queue")
        done = complete_item(
            queue, item["completed_at"], outcome, note, principal.actor, datetime.now(UTC), settings.item_note_max_chars
        )
        updated = await queues.complete(uow.conn, document_id, done)
        await uow.documents.add_timeline(document_id, "queue", "completed", list(done.reasons))
    obs.STAGE_OUTCOMES.labels("work", "completed").inc()
    log.info("queue item completed", extra={"document_id": document_id, "queue": queue})
    return updated
