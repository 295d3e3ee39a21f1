"""Alerts: what raises one, how later reasons merge into it, and how officers work it.

One alert per document gathers every reason a person must look at it: the at-risk categories
the classifier matched, and `could_not_be_checked` when a part nobody could read, or a stage
that gave up on the document altogether (issue 13 "No silent path"). Officers acknowledge it,
then close it with an outcome (SPEC 3 "Work after routing"; choices in docs/seeds.md).

Pure rules: each function returns what it decided with its reasons, or raises a domain error
with a stable code. Reasons name ids, categories, stages and error classes, never a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mailintake_common.domain_errors import Conflict, Invalid
from mailintake_common.events import COULD_NOT_BE_CHECKED, UNROUTED, AlertAction, AlertOutcome, AlertStatus

# A document dead-lettered before routing has no known customer: its detail is for the most
# restricted readers only (the dashboard still counts it for everyone).
UNKNOWN_CUSTOMER_RACS_LEVEL = 3
# The queue an alert names when its document was never routed.


@dataclass(frozen=True)
class NewAlert:
    """What a document's alert should carry now."""

    categories: tuple[str, ...]
    reasons: tuple[str, ...]
    queue: str
    customer_ids: tuple[str, ...] = ()
    racs_level: int = 0
    customer_unknown: bool = False
    detector: str | None = None  # the at-risk detector's version, when it raised the alert


@dataclass(frozen=True)
class AlertState:
    """A stored alert, as the rules see it."""

    alert_id: str
    status: AlertStatus
    categories: tuple[str, ...]
    queue: str
    customer_ids: tuple[str, ...] = ()
    racs_level: int = 0
    customer_unknown: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    outcome: AlertOutcome | None = None
    note: str | None = None


def alert_for_classified(
    at_risk: bool,
    match_categories: list[str],
    unchecked: list[str],
    queue: str,
    customer_ids: list[str],
    racs_level: int,
    detector: str | None = None,
) -> NewAlert | None:
    """The alert a classified and routed document raises, or None when nothing needs a person.
    The reason names the detector's version, so an alert can be traced to the rules that raised it."""
    categories = set(match_categories) if at_risk else set()
    found_by = f" (detector {detector})" if detector else ""
    reasons = [f"at risk: {', '.join(sorted(categories)) or 'match'}{found_by}"] if at_risk else []
    if unchecked:
        categories.add(COULD_NOT_BE_CHECKED)
        reasons += [f"could not be checked, a person must read it: {source}" for source in unchecked]
    if not at_risk and not unchecked:
        return None
    return NewAlert(
        tuple(sorted(categories)), tuple(reasons), queue, tuple(customer_ids), racs_level, detector=detector
    )


def alert_for_dead_letter(consumer: str, topic: str, error: str) -> NewAlert:
    """A stage gave up on the document: nobody checked it, and nobody knows whose it is."""
    reason = f"could not be checked, a person must read it: {consumer} gave up on {topic} ({error[:200]})"
    return NewAlert(
        (COULD_NOT_BE_CHECKED,),
        (reason,),
        UNROUTED,
        racs_level=UNKNOWN_CUSTOMER_RACS_LEVEL,
        customer_unknown=True,
    )


@dataclass(frozen=True)
class Merge:
    """How an existing alert changes when the same document raises again."""

    categories: tuple[str, ...]
    added: tuple[str, ...]
    status: AlertStatus
    reopened: bool
    queue: str
    customer_ids: tuple[str, ...]
    racs_level: int
    customer_unknown: bool
    reasons: tuple[str, ...]


def merge_alert(current: AlertState, incoming: NewAlert) -> Merge | None:
    """Merge new reasons into a document's alert; None when it learns nothing (idempotent).

    New categories reopen an acknowledged or closed alert: it is a risk nobody has looked at yet.
    The latest known customer decides who may see it; an unknown one never hides a known one.
    """
    added = tuple(sorted(set(incoming.categories) - set(current.categories)))
    learns_customer = current.customer_unknown and not incoming.customer_unknown
    if not added and not learns_customer:
        return None
    reopened = bool(added) and current.status != "open"
    reasons = [f"alert {current.alert_id} gains {', '.join(added)}"] if added else []
    if reopened:
        reasons.append(f"alert {current.alert_id} reopened (was {current.status}): a new reason needs a person")
    reasons += list(incoming.reasons) if added else []
    whose = incoming if not incoming.customer_unknown else current
    if learns_customer:
        reasons.append(f"alert {current.alert_id} now follows the routed document (queue {incoming.queue})")
    return Merge(
        categories=tuple(sorted(set(current.categories) | set(incoming.categories))),
        added=added,
        status="open" if reopened else current.status,
        reopened=reopened,
        queue=whose.queue,
        customer_ids=tuple(whose.customer_ids),
        racs_level=whose.racs_level,
        customer_unknown=whose.customer_unknown,
        reasons=tuple(reasons),
    )


@dataclass(frozen=True)
class ActionTaken:
    """The alert after an officer's action, and what the timeline says about it."""

    status: AlertStatus
    acknowledged_at: datetime
    acknowledged_by: str
    closed_at: datetime | None
    closed_by: str | None
    outcome: AlertOutcome | None
    note: str | None
    reasons: tuple[str, ...]


def act_on_alert(
    current: AlertState,
    action: AlertAction,
    outcome: AlertOutcome | None,
    note: str,
    actor: str,
    now: datetime,
    note_max_chars: int,
) -> ActionTaken:
    """Acknowledge or close an alert.

    - acknowledge: open -> acknowledged; an outcome is optional. Acknowledged or closed: 409.
    - close: open or acknowledged -> closed (closing an open alert acknowledges it at the same
      time); the outcome is required. Closed: 409.
    """
    if len(note) > note_max_chars:
        raise Invalid("note_too_long", f"note must be at most {note_max_chars} characters")
    if action == "close" and outcome is None:
        raise Invalid("outcome_required", "closing an alert needs an outcome")
    if current.status == "closed":
        raise Conflict("alert_closed", f"alert {current.alert_id} is already closed")
    if action == "acknowledge" and current.status == "acknowledged":
        raise Conflict("alert_already_acknowledged", f"alert {current.alert_id} is already acknowledged")
    first_ack = current.acknowledged_at is None
    acknowledged_at = now if first_ack else current.acknowledged_at
    acknowledged_by = actor if first_ack else (current.acknowledged_by or actor)
    verb = "closed" if action == "close" else "acknowledged"
    reasons = [f"alert {current.alert_id} {verb} by {actor}"]
    if action == "close" and current.status == "open":
        reasons.append("closed while open: acknowledged at the same time")
    if outcome is not None:
        reasons.append(f"outcome: {outcome}")
    if note:
        reasons.append("a note was recorded on the alert")
    assert acknowledged_at is not None
    return ActionTaken(
        status="closed" if action == "close" else "acknowledged",
        acknowledged_at=acknowledged_at,
        acknowledged_by=acknowledged_by,
        closed_at=now if action == "close" else None,
        closed_by=actor if action == "close" else None,
        outcome=outcome if outcome is not None else current.outcome,
        note=note or current.note,
        reasons=tuple(reasons),
    )
