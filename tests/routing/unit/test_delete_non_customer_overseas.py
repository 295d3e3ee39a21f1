"""Issue 14 in routing: what may be deleted, what is a duplicate, what is non-customer, what is international."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailintake_routing.domain.duplicates import duplicate_key
from mailintake_routing.domain.matrix import default_matrix
from mailintake_routing.domain.model import Customer, Identified, Item, Organisation
from mailintake_routing.domain.rules import Context, decide

CTX = Context(default_matrix(), 60.0, lambda _received: datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
JO = Customer("C-JO", "246813579A", "Jo", "Parent", "1984-03-03", ("jo.parent@example.org",))
PAYROLL = Organisation("O-PAY", "Riverbend Plumbing", "51824753556", ("riverbend.example.com.au",))
NZ = Organisation("O-NZ", "NZ Inland Revenue child support", None, ("ird.example.nz",), "overseas_entity", True)
NOBODY = Identified()
SHA = "a" * 64


# -- pending delete: referrals first (seed 001 lines 113-116) -------------------------------------


@pytest.mark.parametrize("referral", ["family_violence", "fraud", "child_protection", "foi"])
def test_an_item_that_relates_to_a_referral_is_never_pending_delete(referral: str) -> None:
    """seed 001 lines 113-116: family violence, fraud, child protection and FOI are referred, not deleted."""
    for deletable in (dict(automatic_mail="automatic reply (Auto-Submitted: auto-replied)"), dict(duplicate_of="d0")):
        decision = decide(Item("email", referrals=(referral,), **deletable), Identified((JO,)), CTX)  # type: ignore[arg-type]
        assert decision.queue != "pending-delete"
        assert decision.queue == "correspondence" and decision.customer_ids == ["C-JO"]
        assert any(r.startswith("not deleted") and referral in r for r in decision.reasons), decision.reasons


def test_an_unidentified_referral_goes_to_a_person_with_the_reason() -> None:
    """seed 001 line 116: an FOI request that would otherwise be deleted reaches a person."""
    decision = decide(Item("email", duplicate_of="d0", referrals=("foi",)), NOBODY, CTX)
    assert decision.queue == "unidentified-customer"
    assert any("relates to foi" in r for r in decision.reasons)


def test_without_a_referral_automatic_mail_is_still_deleted() -> None:
    """seed 001 line 79: a real automatic reply with nothing to refer goes to pending delete."""
    decision = decide(Item("email", automatic_mail="read receipt"), Identified((JO,)), CTX)
    assert decision.queue == "pending-delete"
    assert not any(r.startswith("not deleted") for r in decision.reasons)


# -- exact duplicates (seed 001 line 79) ----------------------------------------------------------


def test_the_same_email_from_the_same_sender_is_a_duplicate() -> None:
    """seed 001 line 79: the same document received again."""
    first = duplicate_key("email", "clear", SHA, "Jo.Parent@example.org", "Change of address")
    again = duplicate_key("email", "clear", SHA, "jo.parent@example.org", "Change of address")
    assert first is not None and first == again


def test_the_same_content_from_another_sender_is_never_a_duplicate() -> None:
    """seed 001 line 79, issue 14: mail from a different sender is never a duplicate of another's
    (two employers sending the same payroll template, two parents the same form letter)."""
    ours = duplicate_key("email", "clear", SHA, "payroll@riverbend.example.com.au", "Remittance")
    theirs = duplicate_key("email", "clear", SHA, "pay@hilltop.example.com.au", "Remittance")
    assert ours != theirs


def test_other_content_or_subject_or_channel_is_not_a_duplicate() -> None:
    """seed 001 line 79: the same content in every part, from the same channel."""
    base = duplicate_key("email", "clear", SHA, "jo.parent@example.org", "Letter")
    assert base != duplicate_key("email", "clear", "b" * 64, "jo.parent@example.org", "Letter")
    assert base != duplicate_key("email", "clear", SHA, "jo.parent@example.org", "Second letter")
    assert duplicate_key("scan", "clear", SHA) != duplicate_key("webform", "clear", SHA)
    assert duplicate_key("scan", "clear", SHA) == duplicate_key("scan", "clear", SHA)


@pytest.mark.parametrize(
    ("channel", "verdict", "sha", "sender"),
    [
        ("email", "quarantined", SHA, "jo.parent@example.org"),  # only its bodies were read
        ("email", "manual_adjustment", SHA, "jo.parent@example.org"),
        ("email", "clear", None, "jo.parent@example.org"),
        ("email", "clear", SHA, None),  # no sender: cannot be the same sender
    ],
)
def test_items_whose_every_part_is_not_known_have_no_duplicate_key(
    channel: str, verdict: str, sha: str | None, sender: str | None
) -> None:
    """seed 001 line 79, issue 14: a duplicate needs the same content in every part."""
    assert duplicate_key(channel, verdict, sha, sender) is None


# -- non-customer needs positive evidence (seed 001 lines 107, 109, 129) --------------------------


def test_an_identified_customers_mail_that_mentions_another_agency_stays_with_the_customer() -> None:
    """seed 001 line 109, issue 14: mentioning a tax return or Centrelink is not evidence."""
    mentions = Item("email", intended_for_other_agency=True, child_support_related=False)
    decision = decide(mentions, Identified((JO,)), CTX)
    assert (decision.queue, decision.customer_ids) == ("correspondence", ["C-JO"])


def test_an_employers_mail_for_another_agency_is_non_customer() -> None:
    """seed 001 lines 107, 109: an employer's Centrelink form or newsletter is not child support mail."""
    assert decide(Item("email", intended_for_other_agency=True), Identified((), PAYROLL), CTX).queue == "non-customer"
    assert decide(Item("email", child_support_related=False), Identified((), PAYROLL), CTX).queue == "non-customer"


def test_mail_addressed_to_another_agency_is_non_customer_even_from_a_customer() -> None:
    """seed 001 lines 107, 129: correspondence clearly intended for Centrelink or another agency."""
    addressed = Item(
        "email", addressed_to_other_agency=True, intended_for_other_agency=True, child_support_related=False
    )
    decision = decide(addressed, Identified((JO,)), CTX)
    assert decision.queue == "non-customer"
    assert any("addressed to another agency" in r for r in decision.reasons)


def test_unrelated_mail_from_nobody_known_is_non_customer() -> None:
    """seed 001 line 109: not intended for child support or not customer related (spam)."""
    assert decide(Item("email", child_support_related=False), NOBODY, CTX).queue == "non-customer"
    assert decide(Item("email", intended_for_other_agency=True), NOBODY, CTX).queue == "non-customer"


def test_no_evidence_either_way_is_child_support_mail() -> None:
    """seed 001 line 145 (unidentified): good quality, nobody identified, nothing says it is not ours."""
    assert decide(Item("email"), NOBODY, CTX).queue == "unidentified-customer"


# -- international needs an overseas entity or an overseas case (seed 000 lines 48-62) -------------


def test_mail_from_an_overseas_entity_is_international() -> None:
    """seed 000 lines 48-62: an overseas entity's correspondence goes to international."""
    decision = decide(Item("email"), Identified((JO,), NZ), CTX)
    assert (decision.queue, decision.sub_category, decision.organisation_id) == (
        "international",
        "overseas-case",
        "O-NZ",
    )
    assert any("overseas entity O-NZ" in r for r in decision.reasons)


def test_an_overseas_case_in_the_text_is_international() -> None:
    """seed 000 lines 48-62: the text is about an overseas case."""
    assert decide(Item("email", overseas=True), Identified((JO,)), CTX).queue == "international"


def test_a_customer_with_no_overseas_case_is_not_international() -> None:
    """seed 000 lines 48-62, issue 14: a holiday abroad is not an overseas case (the classifier
    does not flag it); an ordinary employer is not an overseas entity."""
    assert decide(Item("email"), Identified((JO,)), CTX).queue == "correspondence"
    assert decide(Item("email"), Identified((JO,), PAYROLL), CTX).queue == "correspondence"
