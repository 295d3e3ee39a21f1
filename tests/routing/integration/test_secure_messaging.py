"""Seed 000 / issue 9 end to end: the `secure` mailbox, registered senders, GovLink, automatic mail."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.factories import quarantine_files as qfiles
from tests.support.api import client, wait_for_status
from tests.support.stack import Service

ORGS = [
    {
        "organisation_id": "SEC-EMP",
        "name": "Registered employer",
        "abn": None,
        "kind": "employer",
        "email_domains": [],
        "sender_addresses": ["payroll@registered-e2e.example.com"],
        "secure_messaging": True,
        "in_liquidation": False,
    },
    {
        "organisation_id": "SEC-PLAIN",
        "name": "Unregistered employer",
        "abn": None,
        "kind": "employer",
        "email_domains": ["plain-e2e.example.com"],
        "secure_messaging": False,
        "in_liquidation": False,
    },
    {
        "organisation_id": "SEC-GOV",
        "name": "A federal department",
        "abn": None,
        "kind": "government",
        "email_domains": ["dept-e2e.gov.au"],
        "secure_messaging": False,
        "in_liquidation": False,
    },
]
CUSTOMER = {
    "customer_id": "SEC-CUST",
    "crn": "918273645K",
    "given_name": "Kim",
    "family_name": "Secure",
    "date_of_birth": "1980-02-02",
    "emails": [],
    "racs_level": 0,
}


def deduction(sender: str) -> bytes:
    return qfiles.email_with(
        [],
        sender=sender,
        subject="Deductions",
        body=f"Employer deduction notice: deductions from wages. Ref {uuid.uuid4().hex}",
    )


def read_receipt() -> bytes:
    boundary = uuid.uuid4().hex
    return (
        f"From: someone@example.net\r\nTo: secure@agency.example\r\nSubject: Read: letter\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.net>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=disposition-notification; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
        f"--{boundary}\r\nContent-Type: message/disposition-notification\r\n\r\nDisposition: manual-action/"
        f"MDN-sent-manually; displayed\r\n--{boundary}--\r\n"
    ).encode()


def bounce() -> bytes:
    boundary = uuid.uuid4().hex
    original = "From: cs@agency.example\r\nTo: gone@example.net\r\nSubject: Your assessment\r\n\r\nCRN 918273645K\r\n"
    return (
        f"From: MAILER-DAEMON@example.net\r\nTo: secure@agency.example\r\nSubject: Undelivered Mail\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.net>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nDelivery to the recipient failed.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n{original}--{boundary}--\r\n"
    ).encode()


@pytest.fixture(scope="module")
def routed(stack: dict[str, Service]) -> dict[str, dict]:
    return asyncio.run(_post(stack))


async def _post(stack: dict[str, Service]) -> dict[str, dict]:
    async with client(stack["routing"].base_url) as routing:
        assert (await routing.put("/v1/directory/organisations", json=ORGS)).status_code == 200
        assert (await routing.put("/v1/directory/customers", json=[CUSTOMER])).status_code == 200
    mails = {
        "registered": deduction("payroll@registered-e2e.example.com"),
        "unregistered": deduction("payroll@plain-e2e.example.com"),
        "govlink": qfiles.email_with(
            [],
            sender="officer@dept-e2e.gov.au",
            subject="Customer details",
            body=f"Change of circumstances for CRN 918273645K. {uuid.uuid4().hex}",
        ),
        "securemail_notice": qfiles.email_with(
            [],
            sender="noreply@securemail.servicesaustralia.gov.au",
            subject="Delivery notification",
            body=f"A classified message has been securely delivered. Notice {uuid.uuid4().hex}",
        ),
        "out_of_office": qfiles.email_with(
            [], subject="Automatic reply: letter", Auto_Submitted="auto-replied", body=f"I am away. {uuid.uuid4().hex}"
        ),
        "exchange_auto_reply": qfiles.email_with(
            [], subject="Out of office", X_Auto_Response_Suppress="All", body=f"Away. {uuid.uuid4().hex}"
        ),
        "precedence": qfiles.email_with(
            [], subject="Re: letter", Precedence="auto_reply", body=f"Auto. {uuid.uuid4().hex}"
        ),
        "read_receipt": read_receipt(),
        "bounce": bounce(),
    }
    results = {}
    async with client(stack["intake"].base_url) as intake:
        ids = {}
        for name, raw in mails.items():
            response = await intake.post(
                "/v1/emails?mailbox=secure", content=raw, headers={"Content-Type": "message/rfc822"}
            )
            assert response.status_code == 202, response.text
            ids[name] = response.json()["document_id"]
        for name, document_id in ids.items():
            results[name] = (await wait_for_status(intake, document_id, {"routed", "failed"}, 120))["routing"]
    return results


def test_a_registered_secure_sender_identifies_its_organisation(routed: dict[str, dict]) -> None:
    assert routed["registered"]["queue"] == "employer"
    assert routed["registered"]["organisation_id"] == "SEC-EMP"
    assert any("registered sender address" in r for r in routed["registered"]["reasons"])


def test_an_unregistered_sender_is_processed_but_identifies_nobody(routed: dict[str, dict]) -> None:
    assert routed["unregistered"]["queue"] == "unidentified-employer"
    assert routed["unregistered"]["organisation_id"] is None
    assert any("not registered for secure messaging" in r for r in routed["unregistered"]["reasons"])


def test_govlink_departments_need_no_registration(routed: dict[str, dict]) -> None:
    assert routed["govlink"]["organisation_id"] == "SEC-GOV"
    assert routed["govlink"]["customer_ids"] == ["SEC-CUST"]
    assert routed["govlink"]["queue"] == "correspondence"


@pytest.mark.parametrize("name", ["securemail_notice", "out_of_office", "precedence", "read_receipt"])
def test_automatic_mail_goes_to_pending_delete_with_the_reason(routed: dict[str, dict], name: str) -> None:
    assert routed[name]["queue"] == "pending-delete"
    assert any(r.startswith("automatic mail:") for r in routed[name]["reasons"])


def test_asking_for_no_automatic_reply_says_nothing_about_the_message(routed: dict[str, dict]) -> None:
    """issue 14: X-Auto-Response-Suppress alone is not an automatic reply."""
    assert routed["exchange_auto_reply"]["queue"] != "pending-delete"


def test_a_delivery_failure_is_returned_mail_attached_to_the_customer(routed: dict[str, dict]) -> None:
    assert routed["bounce"]["queue"] == "correspondence"
    assert routed["bounce"]["sub_category"] == "returned-to-sender"
    assert routed["bounce"]["customer_ids"] == ["SEC-CUST"]
