"""Documents as quarantine leaves them for the classifier: an e-mail's cleared text body (with a
subject) or a web form's fields, each in its blob, with its screening details, at 'screened', and
its v2 `screened` event as the consumer runner receives it. For the handler's tests
(integration/test_classifier_handler.py) and `python -m bench.classifier_stage`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from mailintake_common import details
from mailintake_common.db import unit_of_work
from mailintake_common.events import TOPIC_SCREENED, ClearedPart, DocumentScreenedV1, EmailFacts, new_event
from mailintake_common.outbox import encode

SUBJECT = "My assessment"


async def screened(engine: AsyncEngine, web: bool, body: str, offset: int = 0) -> ConsumerRecord:
    """A web form whose message is `body`, else an e-mail whose text body is `body`; the record at
    `offset` of partition 0 (its key is the document's id)."""
    document_id, now = uuid.uuid4().hex, datetime.now(UTC)
    channel, mailbox, form_type = ("webform", None, "contact_us") if web else ("email", "edc", None)
    if web:
        fields = {"form_type": "contact_us", "fields": {"name": "A Parent", "message": body}}
        content, media, kind, source = json.dumps(fields).encode(), "application/json", "form_fields", "form fields"
    else:
        content, media, kind, source = body.encode(), "text/plain", "text_body", "body"
    async with unit_of_work(engine) as uow:
        await uow.documents.create(document_id, channel=channel, received_at=now, mailbox=mailbox, form_type=form_type)
        ref = await uow.blobs.put(content, media)
        await uow.documents.advance(document_id, "screened", result={"verdict": "clear", "findings": []})
        part = ClearedPart(part_id="p0", kind=kind, media_type=media, blob=ref, source=source)  # type: ignore[arg-type]
        email = None if web else EmailFacts(from_address="parent@example.org", subject=SUBJECT)
        whole = DocumentScreenedV1(
            channel=channel,
            received_at=now,
            mailbox=mailbox,
            form_type=form_type,
            verdict="clear",
            cleared_parts=[part],
            email=email,
        )
        event, kept = details.split_screened(whole)
        await details.keep(uow.conn, document_id, kept, uow.writes)
    value, key = encode(new_event(document_id, event)), document_id.encode()
    return ConsumerRecord(TOPIC_SCREENED, 0, offset, 0, 0, key, value, None, len(key), len(value), ())
