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
RUN_WORD = "".join(chr(ord("a") + int(c, 16)) for c in RUN).capitalize()  # a name's word: letters only


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


# -- session 14: who sent a two-party document, and employer correspondence (issue 14) --

ONLY_MOTHER = {  # her case's father is not on file
    "customer_id": f"ID-AROHA-{RUN}",
    "crn": crn(4, "A"),
    "given_name": "Aroha",
    "family_name": "Wiremu",
    "date_of_birth": "1990-05-14",
    "emails": [f"aroha.{RUN}@example.org"],
    "case_ids": [f"CASE-A-{RUN}"],
}


def agreement(first: tuple[str, str], second: tuple[str, str]) -> list[tuple[str, bytes, str]]:
    """An agreement as an attachment: both parents' signatory statements ("I, ..., of ...")."""
    lines = [
        f"I, {name}, of 4 Kowhai Street, Rotorua, CRN {ref}, agree to the terms below." for name, ref in (first, second)
    ]
    text = "BINDING CHILD SUPPORT AGREEMENT\n" + "\n".join(lines) + "\nSigned by both parties.\n"
    return [("agreement.txt", text.encode(), "text/plain")]


async def test_an_agreement_goes_to_who_sent_it_by_address_covering_message_or_client_never_a_signatory_line(
    stack: dict[str, Service], directory: None
) -> None:
    """seed 001 line 26: attached to the customer who sent it (or on whose behalf), never to the
    other parent, even when the other parent is the only one on file. The agreement's own
    "I, ..., of" lines name both parents and say nothing of who sent it."""
    async with client(stack["routing"].base_url) as routing:
        assert (await routing.put("/v1/directory/customers", json=[ONLY_MOTHER])).status_code == 200
    father_not_on_file = email_bytes(
        sender=f"hemi.{RUN}@gmail.example.com",
        subject="Child support agreement",
        body="Hi there,\nPlease find attached the agreement Aroha and I have both signed.\n\nCheers,\nHemi Walker",
        attachments=agreement(("Aroha Wiremu", ONLY_MOTHER["crn"]), ("Hemi Walker", "to come")),
    )
    father_on_file = email_bytes(
        sender=FATHER["emails"][0],
        subject="Our agreement",
        body=f"Hello, attached is the agreement we signed. My CRN is {FATHER['crn']}.\n\nThanks,\nRangi",
        attachments=agreement(("Sophie Laurent", MOTHER["crn"]), ("Rangi Tipene", FATHER["crn"])),
    )
    for_the_mother = email_bytes(
        sender=f"reception.{RUN}@coastlaw.example.com",
        subject="Draft child support agreement",
        body=(
            f"Dear Registrar,\nWe act for the mother, Ms Sophie Laurent (CRN {MOTHER['crn']}), in relation to the "
            f"enclosed draft agreement with Mr Rangi Tipene (CRN {FATHER['crn']}). We seek your advice on whether "
            "it can be registered.\n\nYours faithfully,\nCoast Family Lawyers"
        ),
    )
    async with client(stack["intake"].base_url) as intake:
        not_on_file = await post(intake, father_not_on_file)
        on_file = await post(intake, father_on_file)
        solicitor = await post(intake, for_the_mother)
    for doc in (not_on_file, on_file, solicitor):
        assert doc["classification"]["document_type"].startswith("agreement"), doc["classification"]
    assert (not_on_file["routing"]["queue"], not_on_file["routing"]["customer_ids"]) == ("unidentified-customer", [])
    assert (on_file["routing"]["queue"], on_file["routing"]["customer_ids"]) == ("agreements", [FATHER["customer_id"]])
    assert (solicitor["routing"]["queue"], solicitor["routing"]["customer_ids"]) == (
        "agreements",
        [MOTHER["customer_id"]],
    )


async def test_employer_mail_goes_to_the_employer_found_by_abn_or_name_else_unidentified_employer(
    stack: dict[str, Service], directory: None
) -> None:
    """seed 001 lines 97 and 151-156: employer deduction mail for several customers goes to the
    employer's record however the employer is identified (its ABN from a bookkeeper's address,
    its name without "Pty Ltd"), an employer's other correspondence (an employee who resigned)
    too; an employer not on file is unidentified-employer."""
    orgs = [
        {"organisation_id": f"ID-MURRAY-{RUN}", "name": "Murray Valley Plumbing Pty Ltd", "abn": "33445566717"},
        {"organisation_id": f"ID-SUNRAYSIA-{RUN}", "name": f"{RUN_WORD} Citrus Growers Pty Ltd"},
    ]
    async with client(stack["routing"].base_url) as routing:
        response = await routing.put("/v1/directory/organisations", json=[{**o, "kind": "employer"} for o in orgs])
        assert response.status_code == 200, response.text
    employees = f"{FATHER['crn']} $210.00\n{MOTHER['crn']} $185.50"
    bookkeeper = email_bytes(
        sender=f"sue.books.{RUN}@gmail.example.com",
        subject="Child support schedule March",
        body="Hi, I do the books for Murray Valley Plumbing (ABN 33 445 566 717). The deduction schedule:\n"
        + employees,
    )
    by_name = email_bytes(
        sender=f"accounts.{RUN}@citrusmail.example.net",
        subject=f"{RUN_WORD} Citrus Growers deductions for April",
        body="Please see below the amounts withheld for April.\n" + employees,
    )
    resigned = email_bytes(
        sender=f"hr.{RUN}@citrusmail.example.net",
        subject=f"{RUN_WORD} Citrus Growers - employee ceased",
        body=(
            f"Our employee Rangi Tipene (child support reference {FATHER['crn']}) resigned on 12 June. The final "
            "deduction was taken from his last pay and we will not be making further deductions.\nHuman Resources"
        ),
    )
    new_business = email_bytes(
        sender=f"owner.{RUN}@sparkleclean.example.com",
        subject="deductions",
        body=(
            "Hello, we are a new business and have received notices to deduct child support from two of our "
            "cleaners. The first deductions will come out this week. How do we pay you?\nThanks\nJo Petrakis"
        ),
    )
    async with client(stack["intake"].base_url) as intake:
        docs = [await post(intake, raw) for raw in (bookkeeper, by_name, resigned, new_business)]
    found = [(d["routing"]["queue"], d["routing"]["organisation_id"]) for d in docs]
    assert found == [
        ("employer", orgs[0]["organisation_id"]),
        ("employer", orgs[1]["organisation_id"]),
        ("employer", orgs[1]["organisation_id"]),
        ("unidentified-employer", None),
    ], [d["routing"]["reasons"] for d in docs]
