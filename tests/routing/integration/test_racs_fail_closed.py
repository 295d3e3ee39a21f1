"""RACS fails closed (issue 15), through the real services, broker and PostgreSQL.

- A document the classifier has read but routing has not yet placed has a RACS level that is
  not yet known: only a racs:3 key sees it (routing is stopped to hold it there).
- A document that failed is restricted the same way.
- Changing a customer's RACS level in the directory re-levels their routed document, queue item
  and alert in the same request: raising hides them from lower keys at once, lowering shows
  them again (`racs_relevel_lowers`, docs/seeds.md).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from mailintake_common.events import TOPIC_SCREENED, BlobRef, ClearedPart, DocumentScreenedV1, new_event
from mailintake_common.outbox import encode
from tests.factories.documents import email_bytes
from tests.routing.integration.test_alert_work import alert_of, post_and_route, publish, unique
from tests.support.api import client, create_key, wait_for_status
from tests.support.stack import Infra, Service

EMAIL = {"Content-Type": "message/rfc822"}
MORGAN = {
    "customer_id": "RACS-MORGAN",
    "crn": "583920174M",
    "given_name": "Morgan",
    "family_name": "Hidden",
    "date_of_birth": "1988-02-14",
    "emails": ["morgan.racs@example.org"],
    "racs_level": 2,
}
JO = {
    "customer_id": "RACS-JO",
    "crn": "492817365J",
    "given_name": "Jo",
    "family_name": "Later",
    "date_of_birth": "1992-11-03",
    "emails": ["jo.racs@example.org"],
    "racs_level": 0,
}


async def keys(stack: dict[str, Service]) -> dict[int, str]:
    url = stack["intake"].base_url
    low = await create_key(url, ["ops:read"], "racs test 0")
    two = await create_key(url, ["ops:read", "racs:2"], "racs test 2")
    three = await create_key(url, ["ops:read", "racs:3"], "racs test 3")
    return {0: low, 2: two, 3: three}


async def status_for(stack: dict[str, Service], key: str, document_id: str) -> int:
    async with client(stack["intake"].base_url, key) as http:
        return (await http.get(f"/v1/documents/{document_id}")).status_code


async def upsert(stack: dict[str, Service], records: list[dict[str, Any]]) -> None:
    async with client(stack["routing"].base_url) as routing:
        response = await routing.put("/v1/directory/customers", json=records)
        assert response.status_code == 200, response.text


async def test_a_restricted_customers_letter_read_but_not_yet_routed_is_seen_only_with_racs3(
    stack: dict[str, Service],
) -> None:
    await upsert(stack, [MORGAN])
    key = await keys(stack)
    letter = email_bytes(
        sender="a.friend@example.net",
        body=unique(
            "Writing on behalf of my sister, CRN 583920174M. She has moved and asks that her new town not be shared."
        ),
    )
    stack["routing"].stop()
    try:
        async with client(stack["intake"].base_url) as admin:
            response = await admin.post("/v1/emails?mailbox=edc", content=letter, headers=EMAIL)
            assert response.status_code == 202, response.text
            document_id = response.json()["document_id"]
            held = await wait_for_status(admin, document_id, {"classified"}, 120)
        assert "583920174M" in held["classification"]["identifiers"]["crn"]
        assert await status_for(stack, key[0], document_id) == 404
        assert await status_for(stack, key[2], document_id) == 404  # not yet known is above every level but 3
        assert await status_for(stack, key[3], document_id) == 200
    finally:
        stack["routing"].start()
    async with client(stack["intake"].base_url) as admin:
        routed = await wait_for_status(admin, document_id, {"routed"}, 120)
    assert routed["routing"]["queue"] == "racs"
    assert await status_for(stack, key[0], document_id) == 404
    assert await status_for(stack, key[2], document_id) == 200


async def test_a_failed_document_is_seen_only_with_racs3(stack: dict[str, Service], infra: Infra) -> None:
    key = await keys(stack)
    doc = await post_and_route(
        stack, email_bytes(sender="someone.else@example.net", body=unique("Hello, a quick question."))
    )
    document_id = doc["document_id"]
    assert await status_for(stack, key[0], document_id) == 200
    missing = BlobRef(sha256=hashlib.sha256(uuid.uuid4().bytes).hexdigest(), size=10, media_type="text/plain")
    screened = DocumentScreenedV1(
        channel="email",
        received_at=datetime.now(UTC),
        mailbox="edc",
        verdict="clear",
        cleared_parts=[ClearedPart(part_id="p1", kind="text_body", media_type="text/plain", blob=missing)],
    )
    event = new_event(document_id, screened)
    await publish(infra, TOPIC_SCREENED, document_id, encode(event), event.event_type)
    async with client(stack["intake"].base_url, key[3]) as high:
        failed = await wait_for_status(high, document_id, {"failed"}, 60)
    assert failed["status"] == "failed"
    assert await status_for(stack, key[0], document_id) == 404
    assert await status_for(stack, key[2], document_id) == 404


async def visible_to(stack: dict[str, Service], key: str, document_id: str, queue: str) -> dict[str, bool]:
    async with client(stack["routing"].base_url, key) as http:
        items = (await http.get(f"/v1/queues/{queue}/items?limit=500")).json()["items"]
        alerts = (await http.get("/v1/alerts?status=open&limit=500")).json()["items"]
    return {
        "document": await status_for(stack, key, document_id) == 200,
        "item": any(i["document_id"] == document_id for i in items),
        "alert": any(a["document_id"] == document_id for a in alerts),
    }


async def test_changing_a_customers_racs_level_relevels_their_document_item_and_alert(
    stack: dict[str, Service],
) -> None:
    await upsert(stack, [JO])
    key = await keys(stack)
    letter = email_bytes(
        sender="jo.racs@example.org",
        body=unique(
            "My payments stopped again this month. Honestly I don't want to be alive any more, "
            "I have thought about how I would end my life."
        ),
    )
    doc = await post_and_route(stack, letter)
    document_id, queue = doc["document_id"], doc["routing"]["queue"]
    assert doc["routing"]["customer_ids"] == ["RACS-JO"]
    async with client(stack["routing"].base_url) as admin:
        await alert_of(admin, document_id)
    everything = {"document": True, "item": True, "alert": True}
    nothing = {"document": False, "item": False, "alert": False}
    assert await visible_to(stack, key[0], document_id, queue) == everything

    await upsert(stack, [{**JO, "racs_level": 3}])
    assert await visible_to(stack, key[0], document_id, queue) == nothing
    assert await visible_to(stack, key[2], document_id, queue) == nothing
    assert await visible_to(stack, key[3], document_id, queue) == everything
    async with client(stack["intake"].base_url) as admin:
        timeline = (await admin.get(f"/v1/documents/{document_id}")).json()["timeline"]
    assert [t["outcome"] for t in timeline if t["stage"] == "racs"] == ["relevelled"]

    await upsert(stack, [{**JO, "racs_level": 2}])
    assert await visible_to(stack, key[0], document_id, queue) == nothing
    assert await visible_to(stack, key[2], document_id, queue) == everything
    await upsert(stack, [{**JO, "racs_level": 0}])
    assert await visible_to(stack, key[0], document_id, queue) == everything
