"""Issue 13, end to end: at-risk words anywhere a careful officer would read them raise an alert.

Each email carries the at-risk sentence in exactly one place (the subject, a zipped text file, a
forwarded email's attachment, a Word document, an email held for size); everything else in it
is harmless. Each must end classified `at_risk` with an open alert on routing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.factories import documents, office_documents
from tests.factories import quarantine_files as qfiles
from tests.support.api import client, wait_for_status
from tests.support.stack import Service

AT_RISK = "I want to kill myself"
HARMLESS = "Please find my documents attached."
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MiB = 1024 * 1024


def in_the_subject() -> bytes:
    return documents.email_bytes(subject=AT_RISK, body=HARMLESS)


def in_a_zipped_text_file() -> bytes:
    archive = qfiles.zip_of({"notes/note.txt": f"A note.\n{AT_RISK}\n".encode()})
    return documents.email_bytes(body=HARMLESS, attachments=[("letters.zip", archive, "application/zip")])


def in_a_forwarded_emails_attachment() -> bytes:
    return documents.forwarded_email([("note.txt", f"{AT_RISK}\n".encode(), "text/plain")], inner_body=HARMLESS)


def in_a_word_document() -> bytes:
    statement = office_documents.docx(["Statement", AT_RISK])
    return documents.email_bytes(body=HARMLESS, attachments=[("statement.docx", statement, DOCX)])


def in_an_email_held_for_size() -> bytes:
    big = qfiles.plain_pdf() + b"%" + b"0" * (5 * MiB)  # over the 4 MB attachment limit
    return documents.email_bytes(
        body=HARMLESS,
        attachments=[("scan.pdf", big, "application/pdf"), ("note.txt", f"{AT_RISK}\n".encode(), "text/plain")],
    )


@pytest.mark.parametrize(
    "build",
    [in_the_subject, in_a_zipped_text_file, in_a_forwarded_emails_attachment, in_a_word_document],
    ids=lambda build: build.__name__,
)
async def test_at_risk_words_in_any_readable_part_raise_an_alert(
    build: Callable[[], bytes], stack: dict[str, Service]
) -> None:
    document = await _post_and_route(stack, build())
    assert document["screening"]["verdict"] == "clear"
    assert document["classification"]["at_risk"] is True
    assert await _alert_is_open(stack, document["document_id"])


async def test_an_email_held_for_size_still_gets_the_at_risk_check_on_its_attachments(
    stack: dict[str, Service],
) -> None:
    document = await _post_and_route(stack, in_an_email_held_for_size())
    assert document["screening"]["verdict"] == "manual_adjustment"
    assert document["routing"]["queue"] == "manual-adjustment"
    assert document["classification"]["at_risk"] is True
    assert document["classification"]["document_type"] is None  # not typed: screening verdict
    assert await _alert_is_open(stack, document["document_id"])


async def _post_and_route(stack: dict[str, Service], raw: bytes) -> dict:
    async with client(stack["intake"].base_url) as http:
        response = await http.post("/v1/emails?mailbox=edc", content=raw, headers={"Content-Type": "message/rfc822"})
        assert response.status_code == 202, response.text
        return await wait_for_status(http, response.json()["document_id"], {"routed", "failed"}, 120)


async def _alert_is_open(stack: dict[str, Service], document_id: str) -> bool:
    async with client(stack["routing"].base_url) as http:
        response = await http.get("/v1/alerts?status=open&limit=500")
        response.raise_for_status()
        return document_id in {a["document_id"] for a in response.json()["items"]}


WRAPPED = [
    {
        "customer_id": "WRAP-1",
        "crn": "611204385K",
        "given_name": "Wren",
        "family_name": "Calloway",
        "date_of_birth": "1984-02-11",
        "emails": [],
        "racs_level": 0,
    },
    {
        "customer_id": "WRAP-2",
        "crn": "622315496L",
        "given_name": "Idris",
        "family_name": "Penhallow",
        "date_of_birth": "1979-09-30",
        "emails": [],
        "racs_level": 0,
    },
]


async def test_a_crn_wrapped_across_lines_is_found_so_two_customers_are_seen(stack: dict[str, Service]) -> None:
    async with client(stack["routing"].base_url) as routing:
        assert (await routing.put("/v1/directory/customers", json=WRAPPED)).status_code == 200
    body = (
        "I am writing about my neighbour's and my own child support.\n"
        "My reference is CRN 611 204\n385K and my neighbour's customer reference number is 622 315\n496 L.\n"
        "We share a driveway and both need our change of address recorded.\n"
    )
    document = await _post_and_route(stack, documents.email_bytes(subject="Two changes of address", body=body))
    assert set(document["classification"]["identifiers"]["crn"]) == {"611204385K", "622315496L"}
    assert document["routing"]["queue"] == "multiple-customers"


async def test_a_separator_sheet_printed_on_three_lines_goes_to_pending_delete(stack: dict[str, Service]) -> None:
    from tests.factories import classifier_pages as pages

    sheet = pages.png(pages.render(["BATCH", "", "SEPARATOR", "", "SHEET"]))
    async with client(stack["intake"].base_url) as http:
        response = await http.post("/v1/scans", files=[("file", ("sheet.png", sheet, "image/png"))])
        assert response.status_code == 202, response.text
        document = await wait_for_status(http, response.json()["document_id"], {"routed", "failed"}, 120)
    assert document["routing"]["queue"] == "pending-delete", document["routing"]
