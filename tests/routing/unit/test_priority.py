"""Priority documents (seed 001 lines 9-10, 134-141): priority whatever type won, due from
receipt, and an item with no type says why (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from mailintake_routing.domain.clock import HolidayCalendar, counted_from, due_by
from mailintake_routing.domain.matrix import default_matrix
from mailintake_routing.domain.model import Customer, Identified, Item
from mailintake_routing.domain.rules import Context, decide

CALENDAR = HolidayCalendar("AU", "ACT", [])
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)  # Wednesday 14:00 in Canberra


def clock(received_at: datetime | None) -> datetime:
    return due_by(counted_from(received_at, NOW), CALENDAR, "Australia/Canberra", time(17, 0))


CTX = Context(default_matrix(), 60.0, clock)
ALEX = Customer("C-1", "123456789A", "Alex", "Demo", "1985-04-12")
ONE = Identified((ALEX,))


def test_due_by_counts_from_receipt_not_from_routing() -> None:
    """seed 001 line 134: processed the day received, no later than the following business day."""
    received = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # Friday 10:00 in Canberra
    decision = decide(Item("scan", document_type="court_order", priority=True, received_at=received), ONE, CTX)
    assert decision.due_by == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 17:00 AEDT, before NOW
    assert decision.due_by < NOW and "after receipt" in decision.reasons[-1]


def test_receipt_in_the_future_or_unknown_counts_from_now() -> None:
    """seed 001 line 134: a scanner clock ahead must not push the due date out."""
    assert counted_from(datetime(2027, 1, 5, tzinfo=UTC), NOW) == NOW
    assert counted_from(None, NOW) == NOW
    assert counted_from(datetime(2026, 11, 30, 9, 0), NOW) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert clock(None) == datetime(2026, 12, 3, 6, 0, tzinfo=UTC)  # Thursday 17:00 AEDT


def test_priority_holds_whatever_type_won() -> None:
    """seed 001 lines 9-10: an objection that also asks for substituted service is both."""
    item = Item("email", document_type="objection", priority=True, received_at=NOW)
    decision = decide(item, ONE, CTX)
    assert (decision.queue, decision.sub_category) == ("assessment", "objection")
    assert decision.priority and decision.due_by == clock(NOW)


def test_an_untyped_item_says_why_and_keeps_its_priority() -> None:
    """seed 001 line 76: what cannot be categorised goes to a person, with the reason."""
    note = "undecided: competing cues objection (3) and substituted_service (2.5): a person decides the type"
    item = Item("email", priority=True, received_at=NOW, type_note=note)
    decision = decide(item, ONE, CTX)
    assert decision.queue == "correspondence" and decision.priority
    assert f"no document type: {note}" in decision.reasons
    unattached = decide(item, Identified(), CTX)
    assert unattached.queue == "specified-image" and unattached.due_by == clock(NOW)


def test_court_headers_and_subpoenas_have_a_court_route() -> None:
    """seed 001 lines 9-10, 135: every court document type reaches the court category."""
    matrix = default_matrix()
    assert matrix.route_for("subpoena").category == "court"
    assert matrix.route_for("court_document").category == "court"
