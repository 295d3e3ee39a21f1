"""Which identified customers an item is attached to, and which mail is an employer's
(seed 001 lines 26, 97-99 and 151-156; issue 14).

- A two-party document (an agreement, an objection: `parties: sender` in the routing matrix)
  attaches to the customer who sent it or on whose behalf it was sent, never to the other
  party, even when the other party is the only one the directory knows. When nothing shows
  who sent it, it goes to a person (`MAILINTAKE_TWO_PARTY_SENDER_REQUIRED`).
- The parents of one case (the directory's case links) are not "multiple customers": mail that
  names both goes to the parent who sent it, or to both records when that cannot be told.
- Employer mail is deduction correspondence or anything written in an employer's voice; it
  goes to the employer's record even when it lists several customers, except deductions under
  s72A notices alone (seed 001 line 97). Employer mail with no more specific type than general
  correspondence or a change of circumstances (an employee who left, a final deduction) goes
  to the employer's record too, when the employer is identified (seed 001 lines 97, 156).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailintake_routing.domain.matrix import Route, RoutingMatrix
from mailintake_routing.domain.model import Identified, Item

SEED_AGREEMENTS = "seed 001 line 26"


@dataclass(frozen=True)
class Attachment:
    customer_ids: list[str]
    reasons: list[str] = field(default_factory=list)


def attach_to(item: Item, who: Identified, route: Route, *, sender_required: bool = True) -> Attachment:
    """The customers the item goes on, and why any identified customer is left off."""
    ids = who.customer_ids
    senders = [c for c in ids if c in who.senders]
    others = [c for c in ids if c not in who.senders]
    if route.parties == "sender" and ids:
        kind = item.document_type or "document"
        if senders:
            left = f"; not on the other party's record ({', '.join(others)})" if others else ""
            return Attachment(senders, [f"two-party document ({kind}): attached to the customer who sent it{left}"])
        if sender_required:
            return Attachment(
                [],
                [
                    f"two-party document ({kind}): nothing shows that customer {', '.join(ids)} sent it, and it "
                    f"must never go on the other party's record ({SEED_AGREEMENTS})"
                ],
            )
    case = who.shared_case
    if case is not None:
        if senders:
            return Attachment(senders, [f"parents of one case ({case}): attached to the parent who sent it"])
        return Attachment(ids, [f"parents of one case ({case}): who sent it is not known; attached to both records"])
    return Attachment(ids)


def employer_mail(item: Item, who: Identified) -> bool:
    """Correspondence from an employer (the classifier's `employer_correspondence`: an employer's
    voice, deductions typed or cued unless it reads a customer's own), not sent by a customer
    (a parent writing about deductions from their pay stays with the parent)."""
    return item.employer_correspondence and not who.senders


# Types no more specific than general correspondence: an employer's letter of one of these is
# employer correspondence for the employer's record.
GENERAL_TYPES = frozenset({None, "change_of_circumstances"})
EMPLOYER_TYPE = "employer_deduction"  # the matrix entry of employer correspondence


def employer_route(item: Item, who: Identified, matrix: RoutingMatrix) -> Route | None:
    """The employer's route for an identified employer's correspondence that has no more specific
    type (an employee who resigned and their final deduction; issue 14), else None: a court
    document or an agreement an employer sends keeps its own team."""
    general = item.document_type in GENERAL_TYPES or matrix.route_for(item.document_type) == matrix.default
    if general and who.organisation is not None and employer_mail(item, who):
        return matrix.route_for(EMPLOYER_TYPE)
    return None


def s72a_only(item: Item) -> bool:
    """Deductions under s72A notices and no standard employer deductions (seed 001 line 97)."""
    return "s72a" in item.deductions and "standard" not in item.deductions


def not_multiple_customers(item: Item, who: Identified, route: Route) -> str | None:
    """Why several identified customers are not a multiple-customers item, or None when they are."""
    if who.shared_case is not None:
        return "parents of one case"
    if route.parties == "sender" and len(who.customers) == 2:
        return "the two parties of a two-party document"
    if employer_mail(item, who) and not s72a_only(item):
        return "employer correspondence goes to the employer's record (or waits for its employer)"
    return None
