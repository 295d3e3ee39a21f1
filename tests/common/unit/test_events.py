"""The event contract: every payload model can be wrapped, and round-trips through parse_event."""

from __future__ import annotations

import gc
import weakref
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


def test_the_envelope_models_are_built_once_not_again_after_a_garbage_collection() -> None:
    """pydantic holds a parametrised model weakly; building `Envelope[X]` again cost about 1 ms
    of each event written or read (issue 18)."""
    payload = DocumentRoutedV1(queue="court", category="court", exemption=False, priority=False)
    written = weakref.ref(type(new_event("d1", payload)))
    read = weakref.ref(type(parse_event(encode(new_event("d1", payload)))))
    gc.collect()
    assert written() is not None and read() is not None


def test_a_dead_letter_record_parses_with_a_stable_event_id_and_its_key_as_document() -> None:
    import hashlib
    import json

    from mailintake_common.dlq import DeadLetterV1, parse_dead_letter
    from mailintake_common.events import InvalidEvent

    raw = json.dumps(
        {
            "topic": "mail.quarantine.screened",
            "partition": 0,
            "offset": 7,
            "key": "doc-1",
            "value": "{}",
            "error": "PermanentError after 1 attempt(s)",
            "consumer": "classifier",
            "failed_at": "2026-11-25T06:00:00+00:00",
            "added_later": True,
        }
    ).encode()
    event = parse_dead_letter(raw, b"doc-1")
    assert isinstance(event.payload, DeadLetterV1) and event.document_id == "doc-1"
    assert event.event_id == hashlib.sha256(raw).hexdigest() == parse_dead_letter(raw, b"doc-1").event_id
    with pytest.raises(InvalidEvent):
        parse_dead_letter(b"not json", b"doc-1")
    with pytest.raises(InvalidEvent):
        parse_dead_letter(raw.replace(b'"doc-1"', b'""'), None)
