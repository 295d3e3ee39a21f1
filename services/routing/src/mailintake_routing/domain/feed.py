"""What the queue feed (`GET /v1/queues/{queue}/events`, `mailintake tail`) shows of an event.

The feed replaces reading `mail.queue.<queue>` from the broker, so an operator needs no broker
access; it must show no more than a listing may. An entry is the event's ids and type and the
routing decision, picked from the event by name: nothing else in the payload (reasons, which are
free text, or anything a later payload version adds) ever reaches it. Pure: no I/O.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

# The decision, as routing made it (DocumentRoutedV1): ids, flags and names of queues and categories.
DECISION_FIELDS = (
    "queue",
    "category",
    "sub_category",
    "exemption",
    "priority",
    "due_by",
    "at_risk",
    "customer_ids",
    "organisation_id",
)
ENVELOPE_FIELDS = ("event_id", "event_type", "schema_version", "document_id", "occurred_at")


def feed_entry(value: bytes, published_at: datetime) -> dict[str, Any]:
    """One feed entry from an event as published (the outbox row's value). An event that is not
    JSON (it never should be) shows its publication time and nothing of its content."""
    try:
        event = json.loads(value)
    except ValueError:
        event = {}
    event = event if isinstance(event, dict) else {}
    payload = event.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    entry: dict[str, Any] = {name: event.get(name) for name in ENVELOPE_FIELDS}
    entry["published_at"] = published_at.isoformat()
    entry.update({name: payload.get(name) for name in DECISION_FIELDS})
    entry["customer_ids"] = [str(c) for c in entry["customer_ids"] or []]
    return entry
