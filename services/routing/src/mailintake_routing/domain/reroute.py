"""Work after routing on one item (SPEC 3): an officer's reroute, and routing again when the
directory learns who an unidentified item is about (seed 001 line 148; issue 14). Pure."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from mailintake_common.domain_errors import Invalid
from mailintake_common.events import EXEMPTION_QUEUES, ExemptionQueue
from mailintake_routing.domain.model import Customer, Decision, Organisation

# Where an item waits for someone to find who it is about: routed again on a directory change.
AWAITING_IDENTITY: tuple[ExemptionQueue, ...] = ("unidentified-customer", "unidentified-employer", "specified-image")


@dataclass(frozen=True)
class RerouteRequest:
    queue: str
    reason: str
    actor: str
    customer_ids: list[str] | None = None  # attach these customers instead (SPEC 3 "Work after routing")
    organisation_id: str | None = None


def check_target(queue: str, known_queues: Collection[str]) -> None:
    if queue not in known_queues:
        raise Invalid("unknown_queue", f"queue must be one of {', '.join(known_queues)}")


def rerouted(
    item: dict[str, Any],
    request: RerouteRequest,
    customers: list[Customer],
    organisation: Organisation | None,
) -> Decision:
    """The item's new routing: the queue and, when asked, the customers or organisation attached.

    `customers` and `organisation` are the directory's records for the ids asked for; an id the
    directory does not hold is refused."""
    customer_ids = list(item["customer_ids"])
    racs_level = item["racs_level"]
    attached = []
    if request.customer_ids is not None:
        found = {c.customer_id: c for c in customers}
        missing = [i for i in request.customer_ids if i not in found]
        if missing:
            raise Invalid("unknown_customer", f"{len(missing)} of the customer_ids are not in the directory")
        customer_ids = list(dict.fromkeys(request.customer_ids))
        racs_level = max((found[i].racs_level for i in customer_ids), default=0)
        attached.append(f"customers {', '.join(customer_ids) or '(none)'} attached")
    organisation_id = item["organisation_id"]
    if request.organisation_id is not None:
        if organisation is None or organisation.organisation_id != request.organisation_id:
            raise Invalid("unknown_organisation", "organisation_id is not in the directory")
        organisation_id = organisation.organisation_id
        attached.append(f"organisation {organisation_id} attached")
    note = f"rerouted from {item['queue']} by {request.actor}: {request.reason}"
    if attached:
        note += f" ({'; '.join(attached)})"
    exempt = request.queue in EXEMPTION_QUEUES
    return Decision(
        queue=request.queue,
        category=request.queue,
        sub_category=None if exempt else item["sub_category"],
        exemption=exempt,
        priority=item["priority"],
        due_by=item["due_by"],
        customer_ids=customer_ids,
        organisation_id=organisation_id,
        reasons=[*item["reasons"], note],
        racs_level=racs_level,
        rule="reroute",
    )


REROUTED = re.compile(r"^rerouted from (\S+) by ")


def reasons_for_events(reasons: list[str]) -> list[str]:
    """A decision's reasons as published (issue 15): an officer's reroute reason is their own
    words, which may name anyone, so topics say only where the item came from; the words stay
    on the document, its timeline and the queue item."""
    return [
        f"rerouted from {m.group(1)} by an officer (reason on the document)" if (m := REROUTED.match(r)) else r
        for r in reasons
    ]


def still_awaiting(decision: Decision) -> bool:
    return decision.queue in AWAITING_IDENTITY


def identified_again(previous_queue: str, decision: Decision, change: str) -> Decision | None:
    """The new routing of an item that waited in `previous_queue`, or None while it still waits."""
    if still_awaiting(decision):
        return None
    why = f"identified again after a directory update ({change}): was in {previous_queue}"
    return replace(decision, reasons=[why, *decision.reasons], rule=f"identified again; {decision.rule}")
