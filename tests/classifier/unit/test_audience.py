"""Issue 14 in the classifier: positive evidence of another agency or unrelated mail, overseas cases,
referrals and the Securemail notice wording, read from whole letters."""

from __future__ import annotations

import pytest

from mailintake_classifier.domain.audience import assess_audience
from mailintake_classifier.domain.classify import ItemText, Section, classify
from tests.factories import everyday_mail as mail

CRN = "246813579A"


def read(text: str, subject: str | None = None):
    sections = [Section("subject", subject)] if subject else []
    return classify(ItemText("email", sections=[*sections, Section("body 1", text.format(crn=CRN))]))


# -- other agencies and unrelated mail (seed 001 lines 107, 109, 129) -------------------------------


def test_a_tax_return_and_a_centrelink_mention_are_child_support_mail() -> None:
    """seed 001 line 109, issue 14: child support uses tax returns; mentioning Centrelink is not
    evidence that the item is for Centrelink."""
    result = read(mail.TAX_RETURN_MENTION)
    assert result.child_support_related and not result.intended_for_other_agency
    assert not result.audience.addressed_to_other_agency


def test_a_letter_addressed_to_centrelink_is_for_another_agency() -> None:
    """seed 001 lines 107, 129: correspondence clearly intended for Centrelink."""
    result = read(mail.ADDRESSED_TO_CENTRELINK)
    assert result.audience.addressed_to_other_agency and result.intended_for_other_agency
    assert not result.child_support_related


def test_addressed_to_centrelink_but_about_child_support_is_ours() -> None:
    """seed 001 line 109: many parents write 'Dear Centrelink' to Child Support."""
    result = read("Dear Centrelink, my child support payments from my ex stopped in October. Please help.")
    assert result.child_support_related and not result.audience.addressed_to_other_agency


def test_advertising_is_not_customer_related() -> None:
    """seed 001 line 109: not customer related (spam, newsletters)."""
    result = read(mail.ADVERTISING, subject="Don't miss out")
    assert result.audience.unrelated and not result.child_support_related


def test_one_marketing_word_is_not_enough() -> None:
    """issue 14: positive evidence; a customer's email with a mailing-list footer stays ours."""
    result = read("Please call me about my payments. Sent from my phone. Unsubscribe from this list")
    assert result.child_support_related


@pytest.mark.parametrize(
    "greeting",
    [
        "Hi Centrelink,",
        "Good morning ATO team,",
        "G'day Medicare -",
        "Hello NDIS!",
        "Dear Department of Home Affairs,",
        "To the Tax Office:",
        "Attention: DVA",
        "Greetings Service NSW,",
        "I am writing to Centrelink about this.",
    ],
)
def test_any_greeting_or_addressee_naming_another_agency_is_addressed_to_it(greeting: str) -> None:
    """seed 001 lines 107, 129, issue 14: "clearly intended for another government agency"."""
    result = read(f"{greeting}\n\nPlease update my address to 3 Bay Road, Eden from Monday.\n\nThanks, Sam")
    assert result.audience.addressed_to_other_agency, greeting


def test_naming_the_agency_is_not_addressing_it() -> None:
    """issue 14: "Hi, Centrelink said..." and "I sent it to Centrelink, but" name the agency only."""
    for text in [
        "Hi, Centrelink said I should tell you too.",
        "Hi Centrelink said to write to you.",
        "I sent the form to Centrelink, but they sent it back.",
    ]:
        assert not read(text).audience.addressed_to_other_agency, text


def test_words_child_support_shares_with_the_ato_do_not_outweigh_an_addressee() -> None:
    """issue 14: child-support words outweigh an addressee; "deductions" or "assessment" are the
    ATO's words too."""
    assert read(
        "Hello ATO, can I claim deductions for my home office? And where is my notice of assessment?"
    ).audience.addressed_to_other_agency
    assert not read("Hello ATO, my child support deductions are wrong.").audience.addressed_to_other_agency


def test_one_strong_scam_cue_and_one_weak_one_are_enough_two_weak_ones_are_not() -> None:
    """seed 001 line 109, issue 14: weighed cues; a customer's "unsubscribe me from the
    newsletter" is not spam."""
    assert not read("Please verify your account.").audience.unrelated
    assert read("Please verify your account: https://account-check.example.net").audience.unrelated
    assert not read("Please unsubscribe me from the newsletter.").audience.unrelated
    assert read("Spring newsletter. Shop now! Unsubscribe").audience.unrelated  # three weak ones


def test_only_another_agencys_business_needs_a_strong_cue_or_two_weak_ones() -> None:
    """seed 001 line 129, issue 14: Family Tax Benefit alone is Centrelink's business; a tax return's
    lodgement alone is not evidence; with a BAS it is; a child-support word keeps it ours."""
    assert read("My Family Tax Benefit has not been paid this fortnight.").intended_for_other_agency
    assert not read("I lodged my tax return yesterday.").intended_for_other_agency
    assert read("I lodged my tax return yesterday, can I lodge my BAS late?").intended_for_other_agency
    assert not read("My FTB went down when my child support went up.").intended_for_other_agency


# -- overseas cases (seed 000 lines 48-62) ---------------------------------------------------------


def test_a_holiday_abroad_is_not_an_overseas_case() -> None:
    """seed 000 lines 48-62, issue 14: "we're going to Bali for two weeks in July" is not international."""
    assert not read(mail.HOLIDAY_LETTER).overseas
    assert not read("We'll be overseas on holiday for a fortnight, please hold my mail.").overseas
    assert not read("I moved to Geelong permanently last month.").overseas


@pytest.mark.parametrize("letter", [mail.OVERSEAS_CASE_LETTER, mail.OVERSEAS_AGENCY_LETTER])
def test_a_parent_living_abroad_or_an_overseas_agency_is_an_overseas_case(letter: str) -> None:
    """seed 000 lines 48-62: an overseas entity or an overseas case."""
    assert read(letter).overseas


# -- referrals (seed 001 lines 113-116) ------------------------------------------------------------


def test_referrals_are_found_in_words_in_at_risk_matches_and_in_the_type() -> None:
    """seed 001 lines 113-116: family violence, fraud, child protection, FOI."""
    assert read(mail.FRAUD_TIP_OFF_REPLY).audience.referrals == ("fraud",)
    assert read("I have an intervention order against him since June.").audience.referrals == ("family_violence",)
    assert "child_protection" in read("Child protection are involved with the kids now.").audience.referrals
    foi = read("I make a request under the Freedom of Information Act for every document on my file.")
    assert "foi" in foi.audience.referrals


def test_an_ordinary_out_of_office_reply_has_no_referral() -> None:
    """seed 001 line 79: nothing to refer, so it may be deleted."""
    result = read(mail.OUT_OF_OFFICE)
    assert result.audience.referrals == ()


# -- the Securemail notice wording (seed 000 line 36) ----------------------------------------------


def test_the_securemail_notice_wording_is_read_in_the_body() -> None:
    """seed 000 line 36: 'a classified message has been securely delivered via Services Australia Securemail'."""
    assert read(mail.SECUREMAIL_NOTICE, subject="Delivery notification").audience.securemail_wording
    assert not read(mail.PAYROLL_REMITTANCE).audience.securemail_wording


def test_a_plain_text_read_notice_has_its_wording_and_a_forwarded_one_with_a_letter_has_not() -> None:
    """seed 001 line 79, issue 14: a read notice is automatic mail; a customer who forwards one as
    evidence writes a letter around it, which a person reads."""
    assert read(mail.PLAIN_READ_NOTICE, subject="Read: Change of address").audience.read_notice_wording
    forwarded = mail.CUSTOMER_FORWARDING_A_READ_NOTICE + "\n\n" + mail.PLAIN_READ_NOTICE
    assert not read(forwarded, subject="Read: Change of address").audience.read_notice_wording
    assert not read(mail.OUT_OF_OFFICE).audience.read_notice_wording


def test_at_risk_family_violence_found_by_the_lexicon_is_a_referral_a_short_model_passage_is_not() -> None:
    """seed 001 line 115: family violence is referred. The recall-first model layer still raises
    its alert, but a short passage of its own ("Copy please") does not stop a duplicate or an
    auto-reply from being deleted."""
    assert assess_audience("Copy please", None, {("family_violence", "lexicon", 2)}).referrals == ("family_violence",)
    assert assess_audience("Copy please", None, {("child_harm", "construction", 2)}).referrals == ("child_protection",)
    assert assess_audience("Copy please", None, {("family_violence", "model", 2)}).referrals == ()


def test_a_sentence_the_model_alone_finds_is_a_referral() -> None:
    """seed 001 lines 113-116: correspondence that relates to family violence or child protection
    is referred, never deleted. An auto-reply quoting a threat that only the model layer caught
    ("said if I don't stop the child support he will kill me") is still a referral (session 14:
    found by mail written by an outsider, which was deleted as an automatic reply)."""
    threat = ("family_violence", "model", 14)
    assert assess_audience("Automatic reply", None, {threat}).referrals == ("family_violence",)
    assert assess_audience("Automatic reply", None, {("child_harm", "model", 9)}).referrals == ("child_protection",)
    assert assess_audience("Automatic reply", None, {("self_harm", "model", 14)}).referrals == ()
