"""No tax file number in anything stored or sent, and no CRN masked as one (SPEC 5 Privacy; issue 14).

An email carries a TFN in its subject, body, a text attachment and that attachment's name, and
a CRN written before its check letter; a held email carries one in a harmful file's name; a
poison record carries one to a dead-letter topic. After the pipeline has run, every stored row
(documents, timeline, quarantine's hold, outbox, the details tables, the cleared parts' blobs) and every topic is
read back: only the original blob may still hold the TFN.
"""

from __future__ import annotations

import json
import uuid

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from mailintake_common.blobs import blob_store
from tests.factories import quarantine_files as qfiles
from tests.factories.documents import email_bytes
from tests.support.api import client, wait_for_status
from tests.support.kafka import read_topic
from tests.support.stack import Infra, Service

TFN_FORMS = ("492589913", "492 589 913")
CRN_DIGITS = "273464686"  # passes the TFN checksum too: as a CRN it must survive
EMAIL = {"Content-Type": "message/rfc822"}


def holds_tfn(value: object) -> bool:
    flat = value if isinstance(value, str) else json.dumps(value, default=str)
    return any(form in flat for form in TFN_FORMS)


async def test_a_tfn_is_masked_in_every_stored_row_and_topic_and_a_crn_is_kept(
    stack: dict[str, Service], infra: Infra
) -> None:
    marker = uuid.uuid4().hex
    clear = email_bytes(
        sender=f"tama.{marker[:6]}@example.org",
        subject="New job - my tax file number is 492 589 913",
        body=(
            f"Hi, I started a new job last week. My TFN is 492589913 and my CRN is {CRN_DIGITS} K.\n"
            f"Payslip details attached. {marker}"
        ),
        attachments=[("tfn 492589913 payslip.txt", b"Employee TFN: 492 589 913\nGross: $1,820.00\n", "text/plain")],
    )
    held = qfiles.email_with(
        [("tfn_492589913.exe", qfiles.windows_exe(), "application/octet-stream")],
        body=f"see attached {marker}",
        sender=f"tama.{marker[:6]}@example.org",
        subject="TFN 492589913 form",
    )
    async with client(stack["intake"].base_url) as intake:
        ids = []
        for raw in (clear, held):
            response = await intake.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
            assert response.status_code == 202, response.text
            ids.append(response.json()["document_id"])
        docs = [await wait_for_status(intake, i, {"routed"}, 120) for i in ids]
    assert not holds_tfn(docs), "the document API shows a TFN"
    assert docs[1]["screening"]["verdict"] == "quarantined"

    topics = ("mail.intake.received", "mail.quarantine.screened", "mail.classifier.classified", "mail.routing.routed")
    events = {}
    for topic in topics:
        seen = await read_topic(
            infra.bootstrap, topic, lambda vs: all(any(v.get("document_id") == i for v in vs) for i in ids), 60
        )
        events[topic] = [v for v in seen if v.get("document_id") in ids]
        assert not holds_tfn(events[topic]), f"{topic} carries a TFN"
    screened = events["mail.quarantine.screened"]
    masked_details = []

    engine = create_async_engine(infra.database_url)
    try:
        async with engine.connect() as conn:
            details = ("received_details", "screening_details", "classification_details")  # issue 15
            for table in ("documents", "timeline", "quarantine_items", "outbox", "queue_items", *details):
                rows = (
                    (await conn.execute(text(f"SELECT * FROM {table} WHERE document_id = ANY(:ids)"), {"ids": ids}))
                    .mappings()
                    .all()
                )
                assert rows or table == "quarantine_items"
                for row in rows:
                    values = {
                        k: (bytes(v).decode(errors="replace") if isinstance(v, (bytes, memoryview)) else v)
                        for k, v in row.items()
                    }
                    assert not holds_tfn(values), f"a {table} row holds a TFN"
                    if table == "screening_details":
                        masked_details.append("TFN REMOVED" in json.dumps(values["details"]))
            cleared = [p["blob"]["sha256"] for v in screened for p in v["payload"]["cleared_parts"]]
            text_blobs = [
                v["payload"]["text_blob"]["sha256"]
                for v in events["mail.classifier.classified"]
                if v["payload"]["text_blob"]
            ]
            store = blob_store(conn, infra.settings())  # PostgreSQL or the S3 bucket, as the services
            contents = [(sha, await store.get(sha)) for sha in sorted(set(cleared + text_blobs))]
    finally:
        await engine.dispose()
    assert any(masked_details)  # the subject and filenames (kept by quarantine) were masked, not dropped
    assert len(contents) == len(set(cleared + text_blobs)) >= 3
    assert not any(holds_tfn(bytes(c).decode(errors="replace")) for _, c in contents), (
        "a cleared part or text holds a TFN"
    )
    stored_text = {sha: bytes(c).decode(errors="replace") for sha, c in contents}
    assert any(f"{CRN_DIGITS} K" in stored_text[sha] for sha in text_blobs), "the CRN was masked as a TFN"


async def test_a_dead_letter_copy_carries_no_tfn(stack: dict[str, Service], infra: Infra) -> None:
    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap, acks="all")
    await producer.start()
    try:
        poison = f'{{"poison": "{marker}", "note": "my TFN is 492 589 913"'.encode()
        await producer.send_and_wait("mail.intake.received", poison, key=marker.encode())
    finally:
        await producer.stop()
    dead = await read_topic(
        infra.bootstrap, "mail.intake.received.dlq", lambda vs: any(marker in v.get("value", "") for v in vs), 60
    )
    mine = [v for v in dead if marker in v.get("value", "")]
    assert mine and not holds_tfn(mine) and "TFN REMOVED" in mine[0]["value"]
