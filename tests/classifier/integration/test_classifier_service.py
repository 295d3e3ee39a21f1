"""Scans, emails and web forms posted to intake come out of the classifier with results read
from their text, and the document status shows them."""

from __future__ import annotations

import base64

from tests.factories import classifier_pages as pages
from tests.factories.documents import email_bytes
from tests.support.api import client, wait_for_status
from tests.support.kafka import read_topic
from tests.support.stack import Infra, Service


async def test_every_channel_is_classified_from_its_text(stack: dict[str, Service], infra: Infra) -> None:
    scan = pages.tiff(
        [
            pages.render(["Application for child support", "CRN 123456789A", "Page 1 of 2"]),
            pages.render(["Page 2 of 2"]),
        ]
    )
    letter = pages.png(pages.render(["Freedom of Information request", "CRN 987654321B"]))
    async with client(stack["intake"].base_url) as http:
        posted = {
            "scan": await http.post("/v1/scans", files=[("file", ("a.tif", scan, "image/tiff"))]),
            "email": await http.post(
                "/v1/emails?mailbox=edc",
                content=email_bytes(
                    subject="Objection",
                    body="I object to the decision. My tax file number is 123 456 782. I can't keep going like this.",
                ),
                headers={"Content-Type": "message/rfc822"},
            ),
            "webform": await http.post(
                "/v1/webforms",
                json={
                    "form_type": "complaint_feedback",
                    "submitted_at": "2026-11-20T10:00:00Z",
                    "fields": {"message": "Nobody listens. He said he would make me pay if I ever left."},
                    "attachments": [{"filename": "letter.png", "content_base64": base64.b64encode(letter).decode()}],
                },
            ),
        }
        ids = {name: r.json()["document_id"] for name, r in posted.items()}
        docs = {name: await wait_for_status(http, i, {"classified", "routed"}, 90) for name, i in ids.items()}

    events = await read_topic(
        infra.bootstrap,
        "mail.classifier.classified",
        lambda vs: set(ids.values()) <= {v["document_id"] for v in vs},
        60,
    )
    by_id = {e["document_id"]: e["payload"] for e in events}

    scan_event = by_id[ids["scan"]]
    assert scan_event["document_type"] == "application_child_support"
    assert "identifiers" not in scan_event and "123456789A" not in str(scan_event)  # v2: in the database
    assert [p["page"] for p in scan_event["pages"]] == [1, 2]
    assert scan_event["ocr_confidence"] > 50 and scan_event["missing_pages"] is False
    assert docs["scan"]["classification"]["identifiers"]["crn"] == ["123456789A"]

    email_event = by_id[ids["email"]]
    assert email_event["document_type"] == "objection"
    assert email_event["at_risk"] is True
    assert docs["email"]["classification"]["at_risk_matches"][0]["category"] == "suicide_self_harm"
    assert "123 456 782" not in str(docs["email"]) and "123 456 782" not in str(email_event)

    form = docs["webform"]["classification"]
    assert form["document_type"] == "complaint_feedback" and form["at_risk"] is True
    assert "987654321B" in form["identifiers"]["crn"]  # from the OCR'd attachment
    assert any(t["stage"] == "classifier" for t in docs["webform"]["timeline"])
