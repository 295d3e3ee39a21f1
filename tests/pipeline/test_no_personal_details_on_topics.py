"""Personal details stay in the database (issue 15), through the real services and broker.

Customers on the directory send mail naming themselves (subjects, bodies, attachments and
their filenames, a web form), an employer writes about two of them, one letter must raise an
at-risk alert, and one item is dead-lettered by the classifier. Then every record on every
topic (stage topics, `mail.queue.*`, alerts and every `.dlq`) is read from the beginning: no
name, date of birth, CRN, email address, subject or at-risk passage is in any key, value or
header, while the decisions made from them (identification, the alert, the passages shown to a
key that may see them) are all there.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import UTC, datetime

from httpx import AsyncClient

from mailintake_common.events import (
    TOPIC_SCREENED,
    BlobRef,
    ClearedPart,
    DocumentScreenedV1,
    EmailFacts,
    dlq_topic,
)
from tests.factories.personal_mail import PersonalMail, personal_mail
from tests.support.api import client, wait_for_status
from tests.support.faults import publish_screened
from tests.support.kafka import read_every_topic, read_topic
from tests.support.stack import Infra, Service

EMAIL = {"Content-Type": "message/rfc822"}


async def _post_all(intake: AsyncClient, mail: PersonalMail) -> dict[str, str]:
    posted = {
        "tenancy": await intake.post("/v1/emails?mailbox=edc", content=mail.tenancy_email(), headers=EMAIL),
        "at_risk": await intake.post("/v1/emails?mailbox=edc", content=mail.at_risk_email(), headers=EMAIL),
        "employer": await intake.post("/v1/emails?mailbox=edc", content=mail.employer_email(), headers=EMAIL),
        "form": await intake.post("/v1/webforms", json=mail.change_of_circumstances_form()),
    }
    for name, response in posted.items():
        assert response.status_code == 202, (name, response.text)
    return {name: str(r.json()["document_id"]) for name, r in posted.items()}


async def _dead_letter_at_the_classifier(infra: Infra, document_id: str, mail: PersonalMail) -> None:
    """Quarantine's way of announcing a screened item (details kept, a v2 event sent), for an
    item whose cleared part is missing from the blob store: the classifier gives up on it."""
    a = mail.annika
    subject = f"{a.given_name} {a.family_name} - payslip follow up"
    mail.subjects.append(subject)
    missing = f"nothing stored {uuid.uuid4().hex}".encode()
    blob = BlobRef(sha256=hashlib.sha256(missing).hexdigest(), size=len(missing), media_type="text/plain")
    whole = DocumentScreenedV1(
        channel="email",
        received_at=datetime.now(UTC),
        mailbox="edc",
        verdict="clear",
        cleared_parts=[
            ClearedPart(
                part_id="p1",
                kind="attachment",
                media_type="text/plain",
                blob=blob,
                filename=f"{a.family_name} payslip.txt",
                source=f"attachment 1 {a.family_name} payslip.txt",
            )
        ],
        email=EmailFacts(from_address=a.email, to_addresses=["edc@agency.example"], subject=subject),
    )
    await publish_screened(infra, document_id, whole)


async def test_no_personal_detail_is_on_any_topic_after_a_pipeline_run(stack: dict[str, Service], infra: Infra) -> None:
    mail = personal_mail(int.from_bytes(os.urandom(4), "big"))
    async with client(stack["routing"].base_url) as routing:
        directory = [p.directory_record() for p in mail.people]
        assert (await routing.put("/v1/directory/customers", json=directory)).status_code == 200
    async with client(stack["intake"].base_url) as intake:
        ids = await _post_all(intake, mail)
        docs = {name: await wait_for_status(intake, i, {"routed"}, 180) for name, i in ids.items()}
        await _dead_letter_at_the_classifier(infra, ids["form"], mail)
        failed = await wait_for_status(intake, ids["form"], {"failed"}, 90)

    # The decisions were made from the details the services read from PostgreSQL.
    assert docs["tenancy"]["routing"]["customer_ids"] == [mail.marguerite.customer_id]
    assert docs["at_risk"]["routing"]["customer_ids"] == [mail.tobias.customer_id]
    assert docs["form"]["routing"]["customer_ids"] == [mail.annika.customer_id]
    at_risk = docs["at_risk"]["classification"]
    assert at_risk["at_risk"] is True and mail.tobias.crn in at_risk["identifiers"]["crn"]
    phrases = [m["phrase"] for m in at_risk["at_risk_matches"]]
    assert phrases and all(p.strip() for p in phrases)  # the document status still shows passages
    assert any(t["stage"] == "classifier" and t["outcome"] == "failed" for t in failed["timeline"])
    await read_topic(
        infra.bootstrap,
        "mail.alerts.at-risk",
        lambda vs: {ids["at_risk"], ids["form"]} <= {v["document_id"] for v in vs},
        90,
    )
    await read_topic(
        infra.bootstrap, dlq_topic(TOPIC_SCREENED), lambda vs: any(v.get("key") == ids["form"] for v in vs), 60
    )
    # An officer moves the tenancy letter, in their own words.
    m = mail.marguerite
    target = "requests" if docs["tenancy"]["routing"]["queue"] == "correspondence" else "correspondence"
    async with client(stack["routing"].base_url) as routing:
        moved = await routing.post(
            f"/v1/queues/{docs['tenancy']['routing']['queue']}/items/{ids['tenancy']}/reroute",
            json={"queue": target, "reason": f"Rang {m.given_name} on {m.email}, she wants it with her case officer"},
        )
        assert moved.status_code == 200, moved.text
    await read_topic(
        infra.bootstrap,
        "mail.routing.routed",
        lambda vs: any(v["document_id"] == ids["tenancy"] and v["payload"]["queue"] == target for v in vs),
        60,
    )

    records = await read_every_topic(infra.bootstrap)
    topics = {r.topic for r in records}
    assert {"mail.intake.received", "mail.quarantine.screened", "mail.classifier.classified"} <= topics
    assert {"mail.routing.routed", "mail.alerts.at-risk", dlq_topic(TOPIC_SCREENED)} <= topics
    assert any(t.startswith("mail.queue.") for t in topics)
    ours = [r for r in records if any(i in r.text() for i in ids.values())]
    assert {r.topic for r in ours} >= {"mail.classifier.classified", "mail.alerts.at-risk", dlq_topic(TOPIC_SCREENED)}

    needles = [*mail.needles(), *(p for p in phrases if len(p.strip()) >= 6)]
    found = sorted({(r.topic, needle) for r in records for needle in needles if needle.lower() in r.text().lower()})
    assert found == []
