"""Several forms of one customer scanned together, through the real services (issue 14; seed 001
line 99: "multiple forms for the same customer have been scanned together" is multiple-customers
work, to be split, though the scan names one customer)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.factories import classifier_pages as pages
from tests.support.api import client, wait_for_status
from tests.support.stack import Service

RUN = uuid.uuid4().hex[:8]
CUSTOMER = {
    "customer_id": f"E2E-FORMS-{RUN}",
    "crn": f"{int(RUN, 16) % 900_000_000 + 100_000_000}F",
    "given_name": "Jo",
    "family_name": "Formsby",
    "date_of_birth": "1985-04-12",
    "emails": [],
    "racs_level": 0,
}


@pytest.fixture(scope="module")
def directory(stack: dict[str, Service]) -> None:
    async def put() -> None:
        async with client(stack["routing"].base_url) as routing:
            response = await routing.put("/v1/directory/customers", json=[CUSTOMER])
            assert response.status_code == 200, response.text

    asyncio.run(put())


def form_page(title: str, detail: str) -> list[str]:
    return [
        "Services Australia - Child Support",
        title,
        f"Name: {CUSTOMER['given_name']} {CUSTOMER['family_name']}",
        f"CRN {CUSTOMER['crn']}",
        detail,
        "Signed 4 March 2026",
    ]


async def test_two_forms_of_one_customer_in_one_scanned_pdf_go_to_multiple_customers(
    stack: dict[str, Service], directory: None
) -> None:
    """seed 001 line 99."""
    scan = pages.image_pdf(
        [
            pages.render(form_page("Change of circumstances", "New address: 12 Banksia Street")),
            pages.render(form_page("Objection to a decision", f"Decision of 4 November 2025 {RUN}")),
        ]
    )
    async with client(stack["intake"].base_url) as intake:
        response = await intake.post(
            "/v1/scans", files=[("file", ("forms.pdf", scan, "application/pdf"))], data={"batch_id": "forms-e2e"}
        )
        assert response.status_code == 202, response.text
        document = await wait_for_status(intake, response.json()["document_id"], {"routed", "failed"}, 120)
    assert document["status"] == "routed", document["timeline"]
    routing = document["routing"]
    assert (routing["queue"], routing["exemption"]) == ("multiple-customers", True), routing["reasons"]
    assert routing["customer_ids"] == [CUSTOMER["customer_id"]]
    assert any("several forms of one customer scanned together (seed 001 line 99)" in r for r in routing["reasons"])
