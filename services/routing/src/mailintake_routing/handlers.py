"""Routing's handler: identify, decide one queue, place it, alert, announce.

Directory lookups and the duplicate check happen in one unit of work with the decision, the
queue item, the document's routing block, the alert and the events, so a document is routed
once and everything about it commits together.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time

from mailintake_common import observability as obs
from mailintake_common.consumer import HandlerContext
from mailintake_common.db import UnitOfWork
from mailintake_common.events import (
    EVENT_QUEUED,
    TOPIC_ALERTS,
    TOPIC_ROUTED,
    AtRiskAlertV1,
    DocumentClassifiedV1,
    DocumentRoutedV1,
    Envelope,
    new_event,
    queue_topic,
)
from mailintake_routing.adapters import directory, queues
from mailintake_routing.domain.automatic import automatic_mail
from mailintake_routing.domain.clock import HolidayCalendar, due_by
from mailintake_routing.domain.identify import Clues, identify
from mailintake_routing.domain.matrix import RoutingMatrix, default_matrix
from mailintake_routing.domain.model import Decision, Item
from mailintake_routing.domain.rules import Context, decide
from mailintake_routing.settings import RoutingSettings

log = logging.getLogger(__name__)


def make_context(settings: RoutingSettings, matrix: RoutingMatrix | None = None) -> Context:
    extra = [date.fromisoformat(d.strip()) for d in settings.extra_holidays.split(",") if d.strip()]
    calendar = HolidayCalendar(settings.holiday_country, settings.holiday_subdivision, extra)
    hour, minute = (int(x) for x in settings.business_day_end.split(":"))

    def due() -> datetime:
        return due_by(datetime.now(UTC), calendar, settings.business_timezone, time(hour, minute))

    return Context(matrix or default_matrix(), settings.review_image_min_confidence, due)


def clues_of(payload: DocumentClassifiedV1) -> Clues:
    return Clues(
        crns=tuple(payload.identifiers.crn),
        abns=tuple(payload.identifiers.abn),
        emails=tuple(payload.identifiers.emails),
        sender=payload.email.from_address if payload.email else None,
        people=tuple((p.given_name, p.family_name, p.date_of_birth) for p in payload.people),
    )


def item_of(payload: DocumentClassifiedV1, duplicate_of: str | None, sender_domain: str | None) -> Item:
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
        overseas=payload.overseas,
        mailbox=payload.mailbox,
        sender_domain=sender_domain,
        automatic_mail=automatic_mail(payload.email.model_dump() if payload.email else None),
        abns=tuple(payload.identifiers.abn),
    )


async def announce(uow: UnitOfWork, document_id: str, decision: Decision, at_risk: bool, trace_id: str | None) -> None:
    """Store the routing on the document and publish the routed and queued events."""
    await uow.documents.advance(document_id, "routed", result=decision.as_routing(), racs_level=decision.racs_level)
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
        reasons=decision.reasons,
        racs_level=decision.racs_level,
        at_risk=at_risk,
    )
    await uow.outbox.add(TOPIC_ROUTED, new_event(document_id, routed), trace_id=trace_id)
    queued = new_event(document_id, routed, event_type=EVENT_QUEUED, version=1)
    await uow.outbox.add(queue_topic(decision.queue), queued, trace_id=trace_id)


def make_handler(settings: RoutingSettings):
    ctx_rules = make_context(settings)

    async def handle_classified(
        event: Envelope[DocumentClassifiedV1], ctx: HandlerContext[DocumentClassifiedV1]
    ) -> None:
        payload = event.payload
        clues = clues_of(payload)
        async with ctx.unit_of_work() as uow:
            customers, organisations = await directory.candidates(uow.conn, clues)
            who = identify(
                clues,
                customers,
                organisations,
                settings.name_match_min_score,
                secure_mailbox=payload.mailbox == "secure",
            )
            duplicate = await queues.first_with_content(uow.conn, payload.content_sha256, event.document_id)
            decision = decide(item_of(payload, duplicate, clues.sender_domain), who, ctx_rules)
            await queues.place(uow.conn, event.document_id, decision, payload.at_risk)
            await announce(uow, event.document_id, decision, payload.at_risk, ctx.trace_id)
            if payload.at_risk:
                categories = [m.category for m in payload.at_risk_matches]
                alert_id = await queues.raise_alert(uow.conn, event.document_id, decision, categories)
                if alert_id:
                    alert = AtRiskAlertV1(
                        alert_id=alert_id,
                        queue=decision.queue,
                        customer_ids=decision.customer_ids,
                        matches=payload.at_risk_matches,
                    )
                    await uow.outbox.add(TOPIC_ALERTS, new_event(event.document_id, alert), trace_id=ctx.trace_id)
        obs.STAGE_OUTCOMES.labels("routing", decision.queue).inc()
        log.info("routed", extra={"document_id": event.document_id, "queue": decision.queue, "rule": decision.rule})

    return handle_classified
