"""The queue feed (`mailintake tail`) shows ids, the event type and the routing decision, never
anything else an event carries (issue 15: personal details stay in the database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mailintake_routing.domain.feed import feed_entry

PUBLISHED = datetime(2026, 11, 30, 23, 15, tzinfo=UTC)


def test_an_entry_is_the_events_ids_type_and_decision() -> None:
    event = {
        "event_id": "e1",
        "event_type": "document.queued",
        "schema_version": 1,
        "document_id": "d1",
        "occurred_at": "2026-11-30T23:14:59+00:00",
        "payload": {
            "queue": "court",
            "category": "court",
            "sub_category": "court_order",
            "exemption": False,
            "priority": True,
            "due_by": "2026-12-01T06:00:00+00:00",
            "customer_ids": ["C-1"],
            "organisation_id": None,
            "reasons": ["sender Mrs Dale Whitcombe matched by CRN 555 123 456A"],
            "racs_level": 0,
            "at_risk": False,
            "given_name": "Dale",  # a later payload version might carry anything: never shown
        },
    }
    entry = feed_entry(json.dumps(event).encode(), PUBLISHED)
    assert entry == {
        "event_id": "e1",
        "event_type": "document.queued",
        "schema_version": 1,
        "document_id": "d1",
        "occurred_at": "2026-11-30T23:14:59+00:00",
        "published_at": "2026-11-30T23:15:00+00:00",
        "queue": "court",
        "category": "court",
        "sub_category": "court_order",
        "exemption": False,
        "priority": True,
        "due_by": "2026-12-01T06:00:00+00:00",
        "at_risk": False,
        "customer_ids": ["C-1"],
        "organisation_id": None,
    }
    assert "Whitcombe" not in json.dumps(entry) and "Dale" not in json.dumps(entry)


def test_an_unreadable_event_shows_only_when_it_was_published() -> None:
    for raw in (b"\xff not json", b"[1, 2]", b'{"payload": "text"}'):
        entry = feed_entry(raw, PUBLISHED)
        assert entry["published_at"] == PUBLISHED.isoformat() and entry["document_id"] is None
        assert entry["customer_ids"] == [] and entry["queue"] is None
