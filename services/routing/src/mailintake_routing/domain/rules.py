"""Deciding one queue per document: the ten rules of SPEC 5, in order, first that applies wins.

Each rule is a small function `(item, who, ctx) -> Decision | None`; `RULES` is the order.
Priority (court documents, substituted service, referral questionnaires) applies wherever a
document goes: `priority` and `due_by`; a priority document that cannot be attached goes to
`specified-image`. Every decision carries its reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mailintake_common.events import ExemptionQueue
from mailintake_routing.domain.matrix import RoutingMatrix
from mailintake_routing.domain.model import Decision, Identified, Item
from mailintake_routing.domain.parties import (
    attach_to,
    employer_mail,
    employer_route,
    not_multiple_customers,
    s72a_only,
)


@dataclass(frozen=True)
class Context:
    matrix: RoutingMatrix
    review_image_min_confidence: float
    due_by: Callable[[datetime | None], datetime]  # end of the next business day after receipt
    # A two-party document nothing shows the sender of goes to a person (seed 001 line 26)
    two_party_sender_required: bool = True


Rule = Callable[[Item, Identified, Context], Decision | None]


def _exempt(queue: ExemptionQueue, reason: str, who: Identified, rule: str) -> Decision:
    return Decision(
        queue,
        queue,
        None,
        True,
        customer_ids=who.customer_ids,
        reasons=[reason],
        rule=rule,
        organisation_id=who.organisation.organisation_id if who.organisation else None,
    )


def manual_adjustment(item: Item, who: Identified, _: Context) -> Decision | None:
    if item.verdict == "manual_adjustment":
        return _exempt(
            "manual-adjustment",
            "screening: over the email or attachment size limit; the mailbox team "
            "adjusts it before it can be classified",
            who,
            "1 manual-adjustment",
        )
    return None


def quarantine_notification(item: Item, who: Identified, ctx: Context) -> Decision | None:
    if item.verdict != "quarantined":
        return None
    if len(who.customers) == 1:
        route = ctx.matrix.route_for(None)
        return Decision(
            route.category,
            route.category,
            "quarantine-notification",
            False,
            customer_ids=who.customer_ids,
            rule="2 quarantine notification",
            reasons=["quarantined content: notification attached to the identified customer's record"],
        )
    why = "no customer" if not who.customers else "more than one customer"
    return _exempt(
        "non-customer",
        f"quarantined content: notification to non-customer ({why} identified)",
        who,
        "2 quarantine notification",
    )


def racs(item: Item, who: Identified, _: Context) -> Decision | None:
    level = who.racs_level
    if level >= 1:
        return _exempt("racs", f"an identified customer is a restricted access customer (RACS{level})", who, "3 racs")
    return None


def review_image(item: Item, who: Identified, ctx: Context) -> Decision | None:
    if item.channel != "scan":
        return None
    if item.missing_pages:
        return _exempt("review-image", "scanned image is incomplete: pages are missing", who, "4 review-image")
    if item.ocr_confidence is not None and item.ocr_confidence < ctx.review_image_min_confidence:
        return _exempt(
            "review-image",
            f"scanned image is unclear: OCR confidence {item.ocr_confidence:.0f} under "
            f"{ctx.review_image_min_confidence:.0f}",
            who,
            "4 review-image",
        )
    return None


SEVERAL_FORMS = "several forms of one customer scanned together (seed 001 line 99)"


def multiple_customers(item: Item, who: Identified, ctx: Context) -> Decision | None:
    """Unrelated customers, not the parents of one case nor an employer's list (seed 001 lines 97-99),
    or several forms of one customer in one scan or PDF (seed 001 line 99), to be split."""
    if len(who.customers) == 1 and item.several_forms:
        return _exempt("multiple-customers", SEVERAL_FORMS, who, "5 multiple-customers")
    if len(who.customers) <= 1:
        return None
    if not_multiple_customers(item, who, ctx.matrix.route_for(item.document_type)) is not None:
        return None
    reason = f"{len(who.customers)} distinct customers identified"
    if employer_mail(item, who) and s72a_only(item):
        reason += "; deductions under s72A notices are not an employer's multi-customer document (seed 001 line 97)"
    return _exempt("multiple-customers", reason, who, "5 multiple-customers")


def deletion_reason(item: Item) -> str | None:
    """Why the item could be deleted (rule 6), before referrals are considered."""
    if item.automatic_mail:
        return f"automatic mail: {item.automatic_mail}"
    if item.pages_total and item.pages_blank == item.pages_total:
        return "blank pages only"
    if item.separator and item.pages_total and item.pages_total - item.pages_blank <= 1:
        return "scanner separator or test sheet"
    if item.duplicate_of:
        return f"exact duplicate of document {item.duplicate_of}"
    return None


def held_from_deletion(item: Item) -> str | None:
    """seed 001 lines 113-116: correspondence that relates to family violence, fraud, child protection
    or FOI is referred, never deleted; the item goes on to a person, who is told why."""
    reason = deletion_reason(item)
    if reason is None or not item.referrals:
        return None
    return f"not deleted ({reason}): relates to {', '.join(item.referrals)}, to be referred"


def pending_delete(item: Item, who: Identified, _: Context) -> Decision | None:
    reason = deletion_reason(item)
    if reason is None or item.referrals:
        return None
    return _exempt("pending-delete", reason, who, "6 pending-delete")


def non_customer(item: Item, who: Identified, _: Context) -> Decision | None:
    """Only on positive evidence (seed 001 lines 107, 109, 129; issue 14). Mail addressed to another
    agency is non-customer whoever sent it; mail that is only about another agency's payments, or
    is advertising, is non-customer unless a customer is identified: an identified customer's mail
    stays with the customer (an employer's newsletter or Centrelink form is still non-customer)."""
    if item.addressed_to_other_agency:
        return _exempt("non-customer", "addressed to another agency, not child support", who, "7 non-customer")
    if who.customers:
        return None
    if item.intended_for_other_agency:
        return _exempt("non-customer", "intended for another agency, not child support", who, "7 non-customer")
    if not item.child_support_related:
        return _exempt("non-customer", "not child support or customer related", who, "7 non-customer")
    return None


def overseas_case(item: Item, who: Identified) -> str | None:
    """Why the item is an overseas case (seed 000; issue 14): an overseas entity sent it or the text
    is about an overseas case. A holiday abroad is neither."""
    if who.organisation is not None and who.organisation.kind == "overseas_entity":
        return f"from overseas entity {who.organisation.organisation_id}"
    return "the text is about an overseas case" if item.overseas else None


def unidentified_employer(item: Item, who: Identified, _: Context) -> Decision | None:
    """Any employer correspondence whose employer is not found (SPEC rule 8, seed 001 lines
    151-156). An employer in liquidation or administration that is found is not unidentified:
    its record takes the correspondence, and the reason says so (seed 001 lines 154-155: search
    for the organisation; only when neither it nor the liquidator is found)."""
    if not employer_mail(item, who) or who.organisation is not None:
        return None
    return _exempt(
        "unidentified-employer",
        "employer correspondence: employer not in the directory (by ABN, sender or name)",
        who,
        "8 unidentified-employer",
    )


def unidentified_customer(item: Item, who: Identified, ctx: Context) -> Decision | None:
    attached = attach_to(
        item, who, ctx.matrix.route_for(item.document_type), sender_required=ctx.two_party_sender_required
    )
    if attached.customer_ids or (who.organisation is not None and employer_mail(item, who)):
        return None
    if item.priority:
        decision = _exempt(
            "specified-image", "priority document that cannot be attached to a customer", who, "9 specified-image"
        )
    else:
        decision = _exempt(
            "unidentified-customer",
            "child support related, good quality, but no customer identified",
            who,
            "9 unidentified-customer",
        )
    decision.customer_ids = []
    decision.reasons = attached.reasons + decision.reasons
    return decision


def routing_matrix(item: Item, who: Identified, ctx: Context) -> Decision:
    route = ctx.matrix.route_for(item.document_type)
    typed = item.document_type or "unclassified"
    overseas = overseas_case(item, who) if route == ctx.matrix.default else None
    if overseas and ctx.matrix.international is not None:
        route, typed = ctx.matrix.international, f"overseas case ({overseas})"
    elif (employer := employer_route(item, who, ctx.matrix)) is not None:
        route, typed = employer, f"{typed}, employer correspondence"
    reasons = [f"routing matrix v{ctx.matrix.version}: {typed} -> {route.category}/{route.sub_category}"]
    attached = attach_to(item, who, route, sender_required=ctx.two_party_sender_required)
    reasons += attached.reasons
    if who.organisation is not None and who.organisation.in_liquidation:
        reasons.append(f"organisation {who.organisation.organisation_id} is in liquidation or administration")
    if route.attach == "organisation" and who.organisation is not None:
        reasons.append(f"attached to organisation {who.organisation.organisation_id}")
        customer_ids = attached.customer_ids
        if customer_ids and employer_mail(item, who):
            # SPEC rule 10 ("the identified customer or organisation"); seed 001 line 97
            reasons.append(
                f"employer correspondence: not on the records of the customers it names ({len(customer_ids)})"
            )
            customer_ids = []
        return Decision(
            route.category,
            route.category,
            route.sub_category,
            False,
            customer_ids=customer_ids,
            organisation_id=who.organisation.organisation_id,
            reasons=reasons,
            rule="10 matrix",
        )
    return Decision(
        route.category,
        route.category,
        route.sub_category,
        False,
        customer_ids=attached.customer_ids,
        organisation_id=who.organisation.organisation_id if who.organisation else None,
        reasons=reasons,
        rule="10 matrix",
    )


RULES: list[Rule] = [
    manual_adjustment,
    quarantine_notification,
    racs,
    review_image,
    multiple_customers,
    pending_delete,
    non_customer,
    unidentified_employer,
    unidentified_customer,
]


def _rule_number(decision: Decision) -> int:
    number = decision.rule.split(" ", 1)[0]
    return int(number) if number.isdigit() else 0


def decide(item: Item, who: Identified, ctx: Context) -> Decision:
    decision = next((d for rule in RULES if (d := rule(item, who, ctx)) is not None), None)
    decision = decision or routing_matrix(item, who, ctx)
    decision.reasons = list(who.reasons) + decision.reasons
    if (held := held_from_deletion(item)) and _rule_number(decision) > 6:
        decision.reasons.append(held)
    decision.racs_level = who.racs_level
    if item.document_type is None and item.type_note:
        decision.reasons.append(f"no document type: {item.type_note}")  # a person types it (issue 14)
    if item.priority:
        # seed 001 lines 9-10, 134: whatever type won, and counted from receipt
        decision.priority = True
        decision.due_by = ctx.due_by(item.received_at)
        decision.reasons.append(
            "priority (court, substituted service or referral questionnaire): due by the end of the next "
            "business day after receipt"
        )
    if item.at_risk:
        decision.reasons.append("at-risk language: an alert was raised")
    return decision
