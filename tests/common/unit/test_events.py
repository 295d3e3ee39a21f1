"""The event contract: every payload model can be wrapped, and round-trips through parse_event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailintake_common.events import (
    EVENT_TYPE_OF,
    PAYLOADS,
    DocumentRoutedV1,
    InvalidEvent,
    new_event,
    parse_event,
)
from mailintake_common.outbox import encode


def test_every_payload_model_has_an_event_type() -> None:
    assert set(PAYLOADS.values()) <= set(EVENT_TYPE_OF)


def test_an_event_round_trips_and_bad_bytes_are_refused_without_echoing_them() -> None:
    event = new_event(
        "d1",
        DocumentRoutedV1(
            queue="court", category="court", exemption=False, priority=True, due_by=datetime(2026, 11, 25, tzinfo=UTC)
        ),
    )
    parsed = parse_event(encode(event))
    assert parsed.payload == event.payload and parsed.event_type == "document.routed"
    with pytest.raises(InvalidEvent) as error:
        parse_event(
            b'{"event_id": "x", "event_type": "document.routed", "schema_version": 1, "document_id": "d",'
            b' "occurred_at": "2026-01-01T00:00:00Z", "payload": {"queue": "jane@example.org"}}'
        )
    assert "jane@example.org" not in str(error.value)
