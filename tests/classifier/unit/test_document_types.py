"""Every routing-matrix document type is recognised from its text, with reasons."""

from __future__ import annotations

import pytest

from mailintake_classifier.domain.doctype import decide_type

EXAMPLES = {
    "court_order": "FEDERAL CIRCUIT AND FAMILY COURT OF AUSTRALIA\nORDERS\nThe court orders that the father pay ...",
    "court_application": "Initiating Application (Family Law). Notice of hearing attached. Filed in the Family Court.",
    "substituted_service": "We request substituted service of the enclosed documents on the respondent.",
    "referral_questionnaire": "Please find the completed referral questionnaire for the case.",
    "agreement_initiating": "Initiating child support agreement (CS1666) between the parents, signed.",
    "agreement_non_initiating": "Non-initiating agreement for our existing case, both parties signed.",
    "agreement_draft": "Dear Registrar, we act for the mother and are seeking your advice as to whether the enclosed "
    "agreement can be registered before our clients sign it.",
    "cheque_domestic": "RBA CSA RETURNS statement of domestic cheques processed",
    "cheque_returned": "Returned cheque: dishonoured, refer to drawer.",
    "returned_to_sender": "RETURN TO SENDER - not known at this address",
    "document_retrieval": "Document retrieval request: please send a copy of the letter dated 2 May.",
    "complaint_feedback": "I want to make a complaint about how my call was handled.",
    "employer_deduction": "Employer deduction notice: deductions from wages started for our employee.",
    "change_of_circumstances": "Change of circumstances: I have moved and started a new job.",
    "application_child_support": "Application for child support assessment for my two children.",
    "objection": "I lodge an objection to the decision made on 12 May.",
    "foi_request": "This is a request under the Freedom of Information Act for my file.",
}
PRIORITY = {"court_order", "court_application", "substituted_service", "referral_questionnaire"}


@pytest.mark.parametrize(("expected", "text"), list(EXAMPLES.items()))
def test_each_type_is_recognised_with_reasons(expected: str, text: str) -> None:
    decision = decide_type(text)
    assert decision.document_type == expected
    assert 0 < decision.confidence < 1
    assert decision.reasons and decision.reasons[0].startswith(expected)
    assert decision.priority is (expected in PRIORITY)


def test_a_draft_is_recognised_by_its_covering_letter_not_by_missing_signatures() -> None:
    unsigned = "Child support agreement. Signature of payer: ______ Signature of payee: ______"
    assert decide_type(unsigned).document_type != "agreement_draft"
    letter = "Covering letter: we seek advice on whether this child support agreement can be registered."
    assert decide_type(letter).document_type == "agreement_draft"


def test_web_form_type_is_a_strong_cue() -> None:
    assert decide_type("message: please help", "document_retrieval").document_type == "document_retrieval"


def test_no_cue_means_no_type() -> None:
    decision = decide_type("Hello, just saying thanks.")
    assert decision.document_type is None and decision.confidence == 0.0
