"""Alerts as work and the no-silent-path rule, through HTTP and the broker on the real services.

- Officers acknowledge and close alerts (SPEC 3 "Work after routing"); the timeline says who.
- A classified item with parts nobody could read raises `could_not_be_checked`.
- A document the classifier gives up on (its cleared part is missing from the blob store, so
  it really fails and is dead-lettered) raises `could_not_be_checked` too: restricted for
  detail, counted on the dashboard for every key.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from mailintake_common.events import (
    TOPIC_CLASSIFIED,
    TOPIC_SCREENED,
    BlobRef,
    ClearedPart,
    DocumentClassifiedV1,
    DocumentScreenedV1,
    new_event,
)
from mailintake_common.outbox import encode
from tests.factories.documents import email_bytes
from tests.support.api import client, create_key, wait_for_status
from tests.support.stack import Infra, Service

EMAIL = {"Content-Type": "message/rfc822"}
CUSTOMERS = [
    {
        "customer_id": "ALERT-KIM",
        "crn": "314159265K",
        "given_name": "Kim",
        "family_name": "Example",
        "emails": ["kim.alerts@example.org"],
        "racs_level": 0,
    },
    {
        "customer_id": "ALERT-LEE",
        "crn": "271828182L",
        "given_name": "Lee",
        "family_name": "Shielded",
        "emails": [],
        "racs_level": 2,
    },
]


def unique(text: str) -> str:
    return f"{text}\n\nReference {uuid.uuid4().hex}"


async def post_and_route(stack: dict[str, Service], raw: bytes) -> dict[str, Any]:
    async with client(stack["intake"].base_url) as intake:
        response = await intake.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
        assert response.status_code == 202, response.text
        return await wait_for_status(intake, response.json()["document_id"], {"routed", "failed"}, 120)


async def alert_of(routing: httpx.AsyncClient, document_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for status in ("open", "acknowledged", "closed"):
            items = (await routing.get(f"/v1/alerts?status={status}&limit=500")).json()["items"]
            found = [a for a in items if a["document_id"] == document_id]
            if found:
                return found[0]
        await asyncio.sleep(0.3)
    raise TimeoutError(f"no alert for {document_id}")


async def timeline(stack: dict[str, Service], document_id: str) -> list[dict[str, Any]]:
    async with client(stack["intake"].base_url) as intake:
        return list((await intake.get(f"/v1/documents/{document_id}")).json()["timeline"])


async def publish(infra: Infra, topic: str, document_id: str, value: bytes, event_type: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        headers = [("event_type", event_type.encode()), ("trace_id", uuid.uuid4().hex.encode())]
        await producer.send_and_wait(topic, value, key=document_id.encode(), headers=headers)
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def at_risk(stack: dict[str, Service]) -> dict[str, dict[str, Any]]:
    async def setup() -> dict[str, dict[str, Any]]:
        async with client(stack["routing"].base_url) as routing:
            assert (await routing.put("/v1/directory/customers", json=CUSTOMERS)).status_code == 200
        plain = post_and_route(
            stack, email_bytes(sender="kim.alerts@example.org", body=unique("I can't keep going like this."))
        )
        racs = post_and_route(
            stack, email_bytes(sender="x@example.net", body=unique("I can't keep going like this. CRN 271828182L"))
        )
        docs = dict(zip(("plain", "racs"), await asyncio.gather(plain, racs), strict=True))
        async with client(stack["routing"].base_url) as routing:
            return {name: await alert_of(routing, doc["document_id"]) for name, doc in docs.items()}

    return asyncio.run(setup())


async def test_an_officer_acknowledges_then_closes_an_alert_and_the_timeline_says_who(
    at_risk: dict[str, dict[str, Any]], stack: dict[str, Service]
) -> None:
    alert = at_risk["plain"]
    assert alert["status"] == "open" and alert["acknowledged_at"] is None and alert["outcome"] is None
    officer = await create_key(stack["intake"].base_url, ["ops:read", "ops:write"], name="officer alerts-1")
    reader = await create_key(stack["intake"].base_url, ["ops:read"], name="reader alerts-1")
    base = f"/v1/alerts/{alert['alert_id']}"
    async with client(stack["routing"].base_url, reader) as http:
        refused = await http.post(f"{base}/acknowledge", json={})
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    async with client(stack["routing"].base_url, officer) as http:
        assert (await http.post("/v1/alerts/nope/acknowledge", json={})).status_code == 404
        acked = await http.post(f"{base}/acknowledge", json={"note": "Spoke to the team lead"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["status"] == "acknowledged" and acked.json()["acknowledged_at"]
        again = await http.post(f"{base}/acknowledge")
        assert again.status_code == 409 and again.json()["error"] == "alert_already_acknowledged"
        no_outcome = await http.post(f"{base}/close", json={"note": "x"})
        assert no_outcome.status_code == 422 and no_outcome.json()["error"] == "outcome_required"
        bad_outcome = await http.post(f"{base}/close", json={"outcome": "forgotten", "note": ""})
        assert bad_outcome.status_code == 422
        too_long = await http.post(f"{base}/close", json={"outcome": "referred", "note": "x" * 2001})
        assert too_long.status_code == 422 and too_long.json()["error"] == "note_too_long"
        closed = await http.post(f"{base}/close", json={"outcome": "referred", "note": "Referred to social work"})
        assert closed.status_code == 200, closed.text
        body = closed.json()
        assert (body["status"], body["outcome"]) == ("closed", "referred")
        assert body["closed_at"] and body["acknowledged_at"] == acked.json()["acknowledged_at"]
        twice = await http.post(f"{base}/close", json={"outcome": "other", "note": ""})
        assert twice.status_code == 409 and twice.json()["error"] == "alert_closed"
        listed = (await http.get("/v1/alerts?status=closed&limit=500")).json()["items"]
    shown = next(a for a in listed if a["alert_id"] == alert["alert_id"])
    assert set(shown) >= {"alert_id", "document_id", "categories", "status", "raised_at"}
    assert (shown["acknowledged_at"], shown["closed_at"], shown["outcome"]) == (
        body["acknowledged_at"],
        body["closed_at"],
        "referred",
    )
    steps = [t for t in await timeline(stack, alert["document_id"]) if t["stage"] == "alert"]
    assert [t["outcome"] for t in steps][-2:] == ["acknowledged", "closed"]
    assert all(any("officer alerts-1" in r for r in t["reasons"]) for t in steps[-2:])
    assert "outcome: referred" in steps[-1]["reasons"]
    assert "Referred to social work" not in str(steps) and "team lead" not in str(steps)


async def test_a_racs_alert_is_404_to_a_key_without_racs_and_close_acknowledges_implicitly(
    at_risk: dict[str, dict[str, Any]], stack: dict[str, Service]
) -> None:
    alert = at_risk["racs"]
    plain = await create_key(stack["intake"].base_url, ["ops:read", "ops:write"], name="officer alerts-2")
    cleared = await create_key(stack["intake"].base_url, ["ops:read", "ops:write", "racs:2"], name="officer alerts-3")
    async with client(stack["routing"].base_url, plain) as http:
        hidden = await http.post(f"/v1/alerts/{alert['alert_id']}/close", json={"outcome": "no_action", "note": ""})
        assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
        assert alert["alert_id"] not in str((await http.get("/v1/alerts?status=open&limit=500")).json())
    async with client(stack["routing"].base_url, cleared) as http:
        closed = await http.post(f"/v1/alerts/{alert['alert_id']}/close", json={"outcome": "welfare_check", "note": ""})
    assert closed.status_code == 200, closed.text
    assert closed.json()["acknowledged_at"] == closed.json()["closed_at"]


async def test_parts_nobody_could_read_raise_could_not_be_checked(stack: dict[str, Service], infra: Infra) -> None:
    doc = await post_and_route(stack, email_bytes(sender="nobody@example.net", body=unique("Please see the scan.")))
    document_id = doc["document_id"]
    classified = DocumentClassifiedV1(
        channel="email",
        received_at=datetime.now(UTC),
        mailbox="edc",
        verdict="clear",
        unchecked=["attachment 1 scan.tif"],
    )
    event = new_event(document_id, classified)
    await publish(infra, TOPIC_CLASSIFIED, document_id, encode(event), event.event_type)
    async with client(stack["routing"].base_url) as http:
        alert = await alert_of(http, document_id)
    assert alert["categories"] == ["could_not_be_checked"] and alert["status"] == "open"
    raised = [t for t in await timeline(stack, document_id) if t["stage"] == "alert"]
    assert raised and any("attachment 1 scan.tif" in r for r in raised[0]["reasons"])


async def test_a_document_the_classifier_gives_up_on_raises_an_alert_everyone_counts(
    stack: dict[str, Service], infra: Infra
) -> None:
    doc = await post_and_route(stack, email_bytes(sender="nobody@example.net", body=unique("A letter.")))
    document_id = doc["document_id"]
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
    async with client(stack["intake"].base_url) as intake:
        failed = await wait_for_status(intake, document_id, {"failed"}, 60)
    assert any(t["stage"] == "classifier" and t["outcome"] == "failed" for t in failed["timeline"])
    async with client(stack["routing"].base_url) as http:  # the admin key holds racs:3
        alert = await alert_of(http, document_id)
    assert alert["categories"] == ["could_not_be_checked"] and alert["customer_ids"] == []
    steps = [t for t in await timeline(stack, document_id) if t["stage"] == "alert"]
    assert any("gave up on mail.quarantine.screened" in r for r in steps[-1]["reasons"])

    officer = await create_key(stack["intake"].base_url, ["ops:read", "ops:write"], name="officer alerts-4")
    async with client(stack["routing"].base_url, officer) as http:
        listed = (await http.get("/v1/alerts?status=open&limit=500")).json()["items"]
        assert document_id not in {a["document_id"] for a in listed}  # restricted for detail
        hidden = await http.post(f"/v1/alerts/{alert['alert_id']}/acknowledge", json={})
        assert hidden.status_code == 404
        summary = (await http.get("/v1/dashboard/summary")).json()
    assert summary["open_alerts"] == summary["alerts"]["open"]["count"]
    assert summary["open_alerts"] >= len(listed) + 1  # ...but counted for everyone
    assert summary["alerts"]["open"]["oldest_age_s"] >= 0
