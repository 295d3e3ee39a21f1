"""Priority court documents end to end (issue 14; seed 001 lines 9-10, 134): a scan counts from
the day the post room received it, a court header on its own is priority, and priority holds
whatever type the classifier gave."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from tests.factories import classifier_pages as pages
from tests.factories.documents import email_bytes
from tests.support.api import client, wait_for_status
from tests.support.stack import Service

EMAIL = {"Content-Type": "message/rfc822"}
CUSTOMER = {
    "customer_id": "E2E-COURT-PAT",
    "crn": "318642975D",
    "given_name": "Pat",
    "family_name": "Registry",
    "date_of_birth": "1982-06-03",
    "emails": ["pat.court-e2e@example.org"],
    "racs_level": 0,
}
# Wednesday 25 November 2026, 10:00 in Canberra: due Thursday 26 November 17:00 AEDT.
RECEIVED = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
DUE_FROM_RECEIPT = "2026-11-26T06:00:00+00:00"


async def _routed(stack: dict[str, Service], post) -> dict:
    async with client(stack["intake"].base_url) as intake:
        response = await post(intake)
        assert response.status_code == 202, response.text
        document = await wait_for_status(intake, response.json()["document_id"], {"routed", "failed"}, 120)
    assert document["status"] == "routed", document["timeline"]
    return document


async def _put_customer(stack: dict[str, Service]) -> None:
    async with client(stack["routing"].base_url) as routing:
        assert (await routing.put("/v1/directory/customers", json=[CUSTOMER])).status_code == 200


@pytest.fixture(scope="module")
def directory(stack: dict[str, Service]) -> None:
    asyncio.run(_put_customer(stack))


async def test_a_scanned_court_header_is_due_from_the_day_it_was_received(
    stack: dict[str, Service], directory: None
) -> None:
    """seed 001 line 134: same day as received, no later than the following business day."""
    if datetime.now(UTC) < RECEIVED:
        pytest.skip("the machine's clock is before the receipt date this test posts")
    page = pages.png(
        pages.render(
            [
                "FEDERAL CIRCUIT AND FAMILY COURT",
                "OF AUSTRALIA (DIVISION 2)",
                "File number: SYC 7310/2026",
                f"Respondent CRN {CUSTOMER['crn']}",
                f"Bundle {uuid.uuid4().hex[:8]}",
            ]
        )
    )
    document = await _routed(
        stack,
        lambda intake: intake.post(
            "/v1/scans",
            files=[("file", ("court.png", page, "image/png"))],
            data={"received_at": RECEIVED.isoformat(), "batch_id": "court-e2e"},
        ),
    )
    assert document["classification"]["document_type"] == "court_document"
    routing = document["routing"]
    assert (routing["queue"], routing["sub_category"]) == ("court", "court-document")
    assert routing["priority"] is True and routing["customer_ids"] == [CUSTOMER["customer_id"]]
    assert routing["due_by"] == DUE_FROM_RECEIPT  # not the day after routing
    assert any("after receipt" in reason for reason in routing["reasons"])


async def test_an_objection_that_asks_for_substituted_service_is_both(
    stack: dict[str, Service], directory: None
) -> None:
    """seed 001 lines 9-10: priority whatever type won; the objection still goes to assessment."""
    body = (
        "Objection to a child support decision\n"
        "I object to the decision of 4 November about my assessment; I dispute the decision because my "
        "income estimate was ignored.\n"
        "Also, the court has allowed substituted service of my application through your office, as I do "
        "not know where the other parent lives. Please send the enclosed papers on to him.\n"
        f"Reference {uuid.uuid4().hex}"
    )
    raw = email_bytes(subject="Objection", body=body, sender=CUSTOMER["emails"][0])
    document = await _routed(stack, lambda intake: intake.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL))
    assert document["classification"]["document_type"] == "objection"
    routing = document["routing"]
    assert (routing["queue"], routing["priority"]) == ("assessment", True) and routing["due_by"]


async def test_competing_cues_reach_a_person_untyped_with_the_reason(
    stack: dict[str, Service], directory: None
) -> None:
    """seed 001 line 76: what cannot be categorised goes to a person, never a confident wrong type."""
    body = (
        "I am making a complaint about how my call was handled, and I object to the assessment you sent.\n"
        f"Reference {uuid.uuid4().hex}"
    )
    raw = email_bytes(subject="Two things", body=body, sender=CUSTOMER["emails"][0])
    document = await _routed(stack, lambda intake: intake.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL))
    assert document["classification"]["document_type"] is None
    routing = document["routing"]
    assert routing["queue"] == "correspondence" and routing["customer_ids"] == [CUSTOMER["customer_id"]]
    assert any(r.startswith("no document type: undecided: competing cues") for r in routing["reasons"])
