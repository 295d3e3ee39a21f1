"""Issue 14, end to end through intake, quarantine, classifier and routing: what may be deleted,
what is a duplicate, what is non-customer and what is international, on everyday mail."""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import everyday_mail as mail
from tests.support.api import client, wait_for_status
from tests.support.stack import Service

EMAIL = {"Content-Type": "message/rfc822"}
JO = {
    "customer_id": "EVERYDAY-JO",
    "crn": "371590264J",
    "given_name": "Jo",
    "family_name": "Everyday",
    "date_of_birth": "1984-03-03",
    "emails": ["jo.everyday@example.org"],
    "racs_level": 0,
}
JO_MAIL = "jo.everyday@example.org"
EMPLOYER = {
    "organisation_id": "EVERYDAY-RIVERBEND",
    "name": "Riverbend Plumbing",
    "abn": None,
    "kind": "employer",
    "email_domains": ["riverbend-e2e.example.com.au"],
    "secure_messaging": True,
    "in_liquidation": False,
}
NZ = {
    "organisation_id": "EVERYDAY-NZ",
    "name": "Overseas child support team",
    "abn": None,
    "kind": "overseas_entity",
    "email_domains": ["ird-e2e.example.nz"],
    "secure_messaging": True,
    "in_liquidation": False,
}
CRN = JO["crn"]
REPEATED = f"Hi, please send me a copy of my last assessment letter. CRN {CRN}. Thanks, Jo"
# only the at-risk model layer finds this threat (no lexicon phrase or construction matches it)
THREAT_QUOTED_IN_A_REPLY = (
    "I'm out of the office until Thursday.\n\n> He came to the door again last night and said if I keep "
    "chasing the child support he will hurt me and take the kids."
)
PAYSLIP = b"Payslip for the fortnight ending 14 November\nGross: $1,820.00\n"


def everyday() -> dict[str, bytes]:
    return {
        "payroll": mail.payroll_remittance_email(CRN, sender="payroll@riverbend-e2e.example.com.au"),
        "out_of_office": mail.out_of_office_email(sender=JO_MAIL),
        "securemail_notice": mail.securemail_notice_email(),
        "quoting_the_notice": mail.email(
            mail.CUSTOMER_QUOTING_THE_NOTICE.format(crn=CRN),
            sender=JO_MAIL,
            subject="RE: A classified message has been securely delivered",
        ),
        "fraud_in_an_auto_reply": mail.out_of_office_email(sender=JO_MAIL, body=mail.FRAUD_TIP_OFF_REPLY),
        "threat_in_an_auto_reply": mail.out_of_office_email(sender=JO_MAIL, body=THREAT_QUOTED_IN_A_REPLY),
        "holiday": mail.email(mail.HOLIDAY_LETTER.format(crn=CRN), sender=JO_MAIL, subject="Appointment"),
        "overseas_case": mail.email(mail.OVERSEAS_CASE_LETTER.format(crn=CRN), sender=JO_MAIL, subject="My case"),
        "overseas_entity": mail.email(
            mail.OVERSEAS_AGENCY_LETTER.format(crn=CRN), sender="team@ird-e2e.example.nz", subject="Registration"
        ),
        "tax_return": mail.email(mail.TAX_RETURN_MENTION, sender=JO_MAIL, subject="Tax return as requested"),
        "for_centrelink": mail.email(mail.ADDRESSED_TO_CENTRELINK, sender="someone-e2e@example.net", subject="Move"),
        "advertising": mail.email(mail.ADVERTISING, sender="deals@chairs-e2e.example.com", subject="Sale on now"),
        "hi_centrelink": mail.email(mail.HI_CENTRELINK, sender="sam-e2e@example.net", subject="Income estimate"),
        "centrelink_said": mail.email(mail.CENTRELINK_SAID_TELL_YOU, sender=JO_MAIL, subject="New job"),
        "invoice_scam": mail.email(mail.OVERDUE_INVOICE_SCAM, sender="billing@inv-e2e.example.net", subject="Overdue"),
        "phishing": mail.email(
            mail.PHISHING_NAMING_CHILD_SUPPORT, sender="alerts@mygov-e2e.example.net", subject="Action required"
        ),
        "payroll_bureau": mail.email(
            mail.PAYROLL_BUREAU_NOTE, sender="bec@ledgerline-e2e.example.com.au", subject="November schedule"
        ),
        "plain_read_notice": mail.email(mail.PLAIN_READ_NOTICE, sender=JO_MAIL, subject="Read: Change of address"),
        "same_text_other_sender": mail.email(REPEATED, sender="someone-else-e2e@example.net", subject="Copy please"),
        "sent_again": mail.email(REPEATED, sender=JO_MAIL, subject="Copy please"),
        "sent_again_with_a_payslip": mail.email(
            REPEATED, sender=JO_MAIL, subject="Copy please", attachments=(("payslip.txt", PAYSLIP),)
        ),
        # Outlook sets this on ordinary mail: it asks not to be answered automatically, nothing more
        "suppress_header_only": mail.email(
            f"Hi, I have moved to 4 Wattle Street. CRN {CRN}.",
            sender=JO_MAIL,
            subject="New address",
            X_Auto_Response_Suppress="All",
        ),
    }


async def _post(intake, raw: bytes) -> str:
    response = await intake.post("/v1/emails?mailbox=edc", content=raw, headers=EMAIL)
    assert response.status_code == 202, response.text
    return str(response.json()["document_id"])


async def _route_everything(stack: dict[str, Service]) -> dict[str, dict]:
    async with client(stack["routing"].base_url) as routing:
        assert (await routing.put("/v1/directory/customers", json=[JO])).status_code == 200
        assert (await routing.put("/v1/directory/organisations", json=[EMPLOYER, NZ])).status_code == 200
    async with client(stack["intake"].base_url) as intake:
        # The first copy is routed before anything else arrives, so "first" is unambiguous.
        first_id = await _post(intake, mail.email(REPEATED, sender=JO_MAIL, subject="Copy please"))
        first = await wait_for_status(intake, first_id, {"routed", "failed"}, 120)
        ids = {name: await _post(intake, raw) for name, raw in everyday().items()}
        results = {"first": {**first, "document_id": first_id}}
        for name, document_id in ids.items():
            results[name] = {**await wait_for_status(intake, document_id, {"routed", "failed"}, 180)}
    return results


@pytest.fixture(scope="module")
def routed(stack: dict[str, Service]) -> dict[str, dict]:
    return asyncio.run(_route_everything(stack))


def routing(routed: dict[str, dict], name: str) -> dict:
    document = routed[name]
    assert document["status"] == "routed", (name, document["timeline"])
    return dict(document["routing"])


def test_payroll_remittances_generated_by_a_program_are_real_mail(routed: dict[str, dict]) -> None:
    """seed 001 line 79, issue 14: Auto-Submitted: auto-generated payroll mail is never deleted."""
    payroll = routing(routed, "payroll")
    assert payroll["queue"] == "employer", payroll["reasons"]
    assert payroll["organisation_id"] == "EVERYDAY-RIVERBEND"


def test_a_real_out_of_office_reply_is_pending_delete(routed: dict[str, dict]) -> None:
    """seed 001 line 79: automatic replies are deleted."""
    reply = routing(routed, "out_of_office")
    assert reply["queue"] == "pending-delete"
    assert "automatic mail: automatic reply (Auto-Submitted: auto-replied)" in reply["reasons"]


def test_the_securemail_notice_is_deleted_but_a_customer_quoting_it_is_not(routed: dict[str, dict]) -> None:
    """seed 000 line 36: the notice is known by its sender and wording, not by subject alone."""
    notice = routing(routed, "securemail_notice")
    assert notice["queue"] == "pending-delete"
    assert "automatic mail: Securemail delivery notice" in notice["reasons"]
    quoting = routing(routed, "quoting_the_notice")
    assert quoting["queue"] != "pending-delete"
    assert quoting["customer_ids"] == ["EVERYDAY-JO"]


def test_an_auto_reply_that_reports_fraud_goes_to_a_person(routed: dict[str, dict]) -> None:
    """seed 001 lines 113-116: correspondence about fraud is referred, never deleted."""
    reply = routing(routed, "fraud_in_an_auto_reply")
    assert reply["queue"] != "pending-delete"
    assert reply["customer_ids"] == ["EVERYDAY-JO"]
    assert any(r.startswith("not deleted") and "fraud" in r for r in reply["reasons"]), reply["reasons"]


def test_an_auto_reply_quoting_a_threat_only_the_model_found_goes_to_a_person(routed: dict[str, dict]) -> None:
    """seed 001 lines 113-116: correspondence that relates to family violence is referred, never
    deleted, also when only the at-risk model layer found the sentence (session 14)."""
    reply = routing(routed, "threat_in_an_auto_reply")
    assert reply["queue"] != "pending-delete", reply["reasons"]
    assert any(r.startswith("not deleted") and "family_violence" in r for r in reply["reasons"]), reply["reasons"]


def test_the_same_letter_from_the_same_sender_is_a_duplicate(routed: dict[str, dict]) -> None:
    """seed 001 line 79: an exact duplicate of an already-received item."""
    first_id = routed["first"]["document_id"]
    assert routing(routed, "first")["queue"] != "pending-delete"
    again = routing(routed, "sent_again")
    assert again["queue"] == "pending-delete"
    assert f"exact duplicate of document {first_id}" in again["reasons"]


def test_the_same_letter_from_another_sender_is_not_a_duplicate(routed: dict[str, dict]) -> None:
    """seed 001 line 79, issue 14: mail from a different sender is never a duplicate of another's."""
    other = routing(routed, "same_text_other_sender")
    assert other["queue"] != "pending-delete"
    assert other["customer_ids"] == ["EVERYDAY-JO"]  # the CRN in the text


def test_the_same_letter_with_another_attachment_is_not_a_duplicate(routed: dict[str, dict]) -> None:
    """seed 001 line 79, issue 14: an exact duplicate has the same content in every part (body,
    attachments, archive members): the same words with a payslip attached are a new letter."""
    with_payslip = routing(routed, "sent_again_with_a_payslip")
    assert with_payslip["queue"] != "pending-delete", with_payslip["reasons"]
    assert with_payslip["customer_ids"] == ["EVERYDAY-JO"]
    assert not any("duplicate" in r for r in with_payslip["reasons"])


def test_a_suppress_auto_response_header_alone_is_real_mail(routed: dict[str, dict]) -> None:
    """seed 001 line 79, issue 14: X-Auto-Response-Suppress asks not to be answered automatically
    and says nothing about the message itself: an ordinary letter carrying it is not deleted."""
    moved = routing(routed, "suppress_header_only")
    assert (moved["queue"], moved["customer_ids"]) == ("correspondence", ["EVERYDAY-JO"]), moved["reasons"]
    assert not any(r.startswith("automatic mail") for r in moved["reasons"])


def test_a_holiday_abroad_is_not_international(routed: dict[str, dict]) -> None:
    """seed 000 lines 48-62, issue 14: "we're going to Bali for two weeks in July"."""
    holiday = routing(routed, "holiday")
    assert holiday["queue"] != "international"
    assert holiday["customer_ids"] == ["EVERYDAY-JO"]


def test_an_overseas_case_and_an_overseas_entity_are_international(routed: dict[str, dict]) -> None:
    """seed 000 lines 48-62: a parent living in New Zealand; mail from an overseas entity."""
    case = routing(routed, "overseas_case")
    assert (case["queue"], case["customer_ids"]) == ("international", ["EVERYDAY-JO"])
    entity = routing(routed, "overseas_entity")
    assert (entity["queue"], entity["organisation_id"]) == ("international", "EVERYDAY-NZ")


def test_a_customers_tax_return_stays_with_the_customer(routed: dict[str, dict]) -> None:
    """seed 001 line 109, issue 14: mentioning a tax return or Centrelink is not non-customer."""
    tax = routing(routed, "tax_return")
    assert tax["queue"] != "non-customer"
    assert tax["customer_ids"] == ["EVERYDAY-JO"]


@pytest.mark.parametrize("name", ["for_centrelink", "advertising", "hi_centrelink", "invoice_scam"])
def test_mail_for_another_agency_and_advertising_are_non_customer(routed: dict[str, dict], name: str) -> None:
    """seed 001 lines 107, 109, 129: not intended for child support, or not customer related; the
    reasons say which."""
    decision = routing(routed, name)
    assert decision["queue"] == "non-customer"
    why = {"addressed to another agency, not child support", "not child support or customer related"}
    assert why & set(decision["reasons"]), decision["reasons"]


def test_hi_centrelink_is_non_customer_and_a_customer_who_mentions_centrelink_stays(routed: dict[str, dict]) -> None:
    """seed 001 lines 107, 109, 129, issue 14: an email greeting "Hi Centrelink," about Family Tax
    Benefit is addressed to another agency; a customer's "Hi, Centrelink said I should let you know"
    is child-support mail and stays with the customer."""
    centrelink = routing(routed, "hi_centrelink")
    assert centrelink["queue"] == "non-customer"
    assert "addressed to another agency, not child support" in centrelink["reasons"], centrelink["reasons"]
    said = routing(routed, "centrelink_said")
    assert said["queue"] != "non-customer", said["reasons"]
    assert said["customer_ids"] == ["EVERYDAY-JO"]


def test_phishing_that_names_child_support_is_non_customer_by_the_audience_model(routed: dict[str, dict]) -> None:
    """seed 001 line 129, issue 14: phishing uses child support's own words, so no cue can call it
    unrelated; the audience model reads it so, confidently enough to outweigh those words."""
    decision = routing(routed, "phishing")
    assert decision["queue"] == "non-customer", decision["reasons"]
    assert "not child support or customer related" in decision["reasons"]
    timeline = [r for event in routed["phishing"]["timeline"] for r in event["reasons"]]
    assert any(r.startswith("audience model v") and "unrelated" in r for r in timeline), timeline


def test_a_payroll_bureau_in_a_voice_no_cue_knows_is_employer_correspondence(routed: dict[str, dict]) -> None:
    """seed 001 lines 151-156, issue 14: any employer correspondence whose employer is not on file
    is unidentified-employer, whoever in the employer's name writes it."""
    decision = routing(routed, "payroll_bureau")
    assert decision["queue"] == "unidentified-employer", decision["reasons"]


def test_a_plain_text_read_notice_is_pending_delete(routed: dict[str, dict]) -> None:
    """seed 001 line 79, issue 14: a read notice sent as plain text is a read receipt."""
    decision = routing(routed, "plain_read_notice")
    assert decision["queue"] == "pending-delete", decision["reasons"]
    assert any("read receipt" in r for r in decision["reasons"]), decision["reasons"]
