"""The `<topic>.dlq` record (SPEC 4): what a consumer writes when it gives up, and its parsing.

Dead letters are not envelopes: `value` is the original record as text (so a v2 event's dead
letter carries no personal details either), `error` names the error class only.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from mailintake_common.events import EVENT_DEAD_LETTER, Envelope, InvalidEvent
from mailintake_common.validation import short_validation_error


class DeadLetterV1(BaseModel):
    """The plain JSON a consumer writes to `<topic>.dlq` (consumer.py `_dead_letter`).

    Not an envelope: `value` is the original record as text, `error` names the error class only.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)  # tolerant: written by every consumer

    topic: str
    partition: int
    offset: int
    key: str = ""
    value: str = ""
    error: str
    consumer: str
    failed_at: datetime


def parse_dead_letter(raw: bytes, key: bytes | None) -> Envelope[DeadLetterV1]:
    """A `<topic>.dlq` record as a typed envelope, or raise InvalidEvent.

    Its event id is the sha256 of the record's bytes, so a redelivered record is the same event;
    its document id is the record's key (what `_dead_letter` keys it by).
    """
    try:
        letter = DeadLetterV1.model_validate_json(raw)
    except ValueError as exc:
        raise InvalidEvent(short_validation_error(exc)) from None
    document_id = ((key or b"").decode(errors="replace") or letter.key).strip()
    if not document_id or len(document_id) > 64:
        raise InvalidEvent("dead letter without a document id")
    return Envelope[DeadLetterV1](
        event_id=hashlib.sha256(raw).hexdigest(),
        event_type=EVENT_DEAD_LETTER,
        schema_version=1,
        document_id=document_id,
        occurred_at=letter.failed_at,
        payload=letter,
    )
