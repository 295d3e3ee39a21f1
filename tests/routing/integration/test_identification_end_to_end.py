"""Identification through the real services (issue 14; seed 001 lines 26, 97-99, 148-156):
two-party documents go to the parent who sent them, directory look-ups by exact identifier
are never truncated, a directory update routes waiting items again, and a reroute attaches."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.factories.documents import email_bytes
from tests.support.api import client, wait_for_status
from tests.support.kafka import read_topic
from tests.support.stack import Infra, Service

EMAIL = {"Content-Type": "message/rfc822"}
RUN = uuid.uuid4().hex[:8]


def crn(seed: int, letter: str) -> str:
    return f"{(int(RUN, 16) * 7 + seed) % 900_000_000 + 100_000_000}{letter}"


FATHER = {
    "customer_id": f"ID-FATHER-{RUN}",
    "crn": crn(1, "F"),
    "given_name": "Rangi",
    "family_name": "Tipene",
    "date_of_birth": "1984-03-09",
    "emails": [f"rangi.t.{RUN}@example.org"],
    "case_ids": [f"CASE-{RUN}"],
}
MOTHER = {
    "customer_id": f"ID-MOTHER-{RUN}",
    "crn": crn(2, "M"),
    "given_name": "Sophie",
    "family_name": "Laurent",
    "date_of_birth": "1987-12-01",
    "emails": [f"sophie.l.{RUN}@example.org"],
    "case_ids": [f"CASE-{RUN}"],
}
LATE = {  # joins the directory after her letter arrived
    "customer_id": f"ID-LATE-{RUN}",
    "crn": crn(3, "K"),
    "given_name": "Ngaire",
    "family_name": "Pohatu",
    "date_of_birth": "1979-06-21",
    "emails": [],
}


async def post(intake: httpx.AsyncClient, raw: bytes) -> dict[str, Any]:
    response = await intake.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
    assert response.status_code == 202, response.text
    return await wait_for_status(intake, response.json()["document_id"], {"routed", "failed"}, 120)


@pytest.fixture(scope="module")
def directory(stack: dict[str, Service]) -> None:
    async def put() -> None:
        async with client(stack["routing"].base_url) as routing:
            response = await routing.put("/v1/directory/customers", json=[FATHER, MOTHER])
            assert response.status_code == 200, response.text

    asyncio.run(put())


async def test_an_agreement_goes_to_the_parent_who_sent_it_never_the_other(
    stack: dict[str, Service], directory: None
) -> None:
    """seed 001 line 26."""
    from_father = email_bytes(
        sender=FATHER["emails"][0],
        subject="Our agreement",
        body=(
            "Hello, please find our signed child support agreement for our existing case. "
            f"My CRN is {FATHER['crn']} and Sophie's is {MOTHER['crn']}.\nThanks, Rangi"
        ),
    )
    for_someone_not_on_file = email_bytes(
        sender=f"reception.{RUN}@harbourlaw.example.com",
        subject="Binding child support agreement",
        body=(
            "Dear Registrar,\nWe act for Ms Mereana Walker, who is not yet a customer of yours. Enclosed is a "
            f"binding child support agreement between our client and Mr Rangi Tipene (CRN {FATHER['crn']}), "
            "which we ask you to accept.\n\nYours faithfully,\nHarbour Law"
        ),
    )
    async with client(stack["intake"].base_url) as intake:
        father = await post(intake, from_father)
        solicitor = await post(intake, for_someone_not_on_file)
    assert father["classification"]["document_type"].startswith("agreement"), father["classification"]
    assert (father["routing"]["queue"], father["routing"]["customer_ids"]) == ("agreements", [FATHER["customer_id"]])
    assert solicitor["classification"]["document_type"].startswith("agreement"), solicitor["classification"]
    assert solicitor["routing"]["queue"] == "unidentified-customer"
    assert solicitor["routing"]["customer_ids"] == []
    assert any("never go on the other party's record" in r for r in solicitor["routing"]["reasons"])


async def test_exact_look_ups_are_not_truncated_by_many_fuzzy_candidates(stack: dict[str, Service]) -> None:
    """Issue 14: by CRN the customer is found however many others share a date of birth."""
    crowd = [
        {
            "customer_id": f"ID-CROWD-{RUN}-{n:03d}",
            "crn": crn(100 + n, "C"),
            "given_name": "Crowd",
            "family_name": f"Member{n}",
            "date_of_birth": "1931-02-28",
        }
        for n in range(230)
    ]
    target = {**crowd[0], "customer_id": f"ID-CROWD-{RUN}-zzz", "crn": crn(999, "Z"), "family_name": "Target"}
    async with client(stack["routing"].base_url) as routing:
        assert (await routing.put("/v1/directory/customers", json=[*crowd, target])).status_code == 200
    letter = email_bytes(
        sender=f"someone.{RUN}@example.net",
        subject="Change of circumstances",
        body=f"Change of circumstances.\nName: Robin Elsewhere\nDate of birth: 28/02/1931\nCRN {target['crn']}",
    )
    async with client(stack["intake"].base_url) as intake:
        doc = await post(intake, letter)
    assert doc["routing"]["customer_ids"] == [target["customer_id"]], doc["routing"]


async def test_a_directory_update_routes_a_waiting_item_again_and_a_reroute_attaches(
    stack: dict[str, Service], infra: Infra, directory: None
) -> None:
    """seed 001 line 148 (identified at a future date); SPEC 3 reroute with customer_ids."""
    async with client(stack["intake"].base_url) as intake:
        waiting = await post(
            intake,
            email_bytes(
                sender=f"ngaire.{RUN}@example.org",
                subject="New phone number",
                body=f"Kia ora, my mobile number has changed, please update it. CRN {LATE['crn']}\nNgaire",
            ),
        )
        unrelated = await post(
            intake,
            email_bytes(sender=f"x.{RUN}@example.org", subject="Question", body="When is my next payment due?"),
        )
    assert waiting["routing"]["queue"] == "unidentified-customer"
    assert unrelated["routing"]["queue"] == "unidentified-customer"
    async with client(stack["routing"].base_url) as routing:
        response = await routing.put("/v1/directory/customers", json=[LATE])
        assert response.status_code == 200 and response.json()["identified_again"] >= 1, response.text
        attach = f"/v1/queues/unidentified-customer/items/{unrelated['document_id']}/reroute"
        refused = await routing.post(
            attach, json={"queue": "correspondence", "reason": "caller", "customer_ids": ["ID-NOBODY"]}
        )
        assert refused.status_code == 422 and refused.json()["error"] == "unknown_customer"
        moved = await routing.post(
            attach,
            json={"queue": "correspondence", "reason": "found by phone", "customer_ids": [MOTHER["customer_id"]]},
        )
        assert moved.status_code == 200, moved.text
    async with client(stack["intake"].base_url) as intake:
        again = (await intake.get(f"/v1/documents/{waiting['document_id']}")).json()
        attached = (await intake.get(f"/v1/documents/{unrelated['document_id']}")).json()
    assert (again["routing"]["queue"], again["routing"]["customer_ids"]) == ("correspondence", [LATE["customer_id"]])
    assert again["routing"]["reasons"][0].startswith("identified again after a directory update")
    assert [e["outcome"] for e in again["timeline"] if e["stage"] == "routing"] == [
        "unidentified-customer",
        "correspondence",
    ]
    assert attached["routing"]["customer_ids"] == [MOTHER["customer_id"]]
    queued = await read_topic(
        infra.bootstrap,
        "mail.queue.correspondence",
        lambda vs: any(v["document_id"] == waiting["document_id"] for v in vs),
        30,
    )
    assert any(
        v["payload"]["customer_ids"] == [LATE["customer_id"]]
        for v in queued
        if v["document_id"] == waiting["document_id"]
    )


async def test_an_employer_joining_the_directory_takes_its_waiting_deductions(stack: dict[str, Service]) -> None:
    """seed 001 lines 97 and 151-156: deductions for several customers wait for their employer,
    then go to its record once the directory knows it (by its sender domain)."""
    domain = f"kauri-{RUN}.example.com"
    deduction = email_bytes(
        sender=f"payroll@{domain}",
        subject="Employer deductions - November",
        body=(
            "Please find the employer deductions from wages for November for our employees: "
            f"CRN {FATHER['crn']} $212.40 and CRN {LATE['crn']} $180.00.\nPayroll team"
        ),
    )
    async with client(stack["intake"].base_url) as intake:
        doc = await post(intake, deduction)
    assert doc["routing"]["queue"] == "unidentified-employer", doc["routing"]
    org = {
        "organisation_id": f"ID-KAURI-{RUN}",
        "name": "Kauri Timber Mills",
        "abn": None,
        "email_domains": [domain],
        "kind": "employer",
    }
    async with client(stack["routing"].base_url) as routing:
        response = await routing.put("/v1/directory/organisations", json=[org])
        assert response.status_code == 200 and response.json()["identified_again"] == 1, response.text
    async with client(stack["intake"].base_url) as intake:
        again = (await intake.get(f"/v1/documents/{doc['document_id']}")).json()
    assert (again["routing"]["queue"], again["routing"]["organisation_id"]) == ("employer", org["organisation_id"])
