"""Court and registry documents, priority and undecided types (issue 14; seed 001 lines 9-16,
134-141), measured on letters and forms written for these tests (data/doctype_cases.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mailintake_classifier.domain.classify import ItemText, Section, classify
from mailintake_classifier.domain.doctype import decide_type, default_cues, load_cues
from mailintake_classifier.domain.normalise import normalise
from mailintake_routing.domain.matrix import default_matrix

CASES: list[dict[str, Any]] = yaml.safe_load((Path(__file__).parents[1] / "data" / "doctype_cases.yaml").read_text())[
    "cases"
]


def decide(text: str):  # as classify() reads it: the normalised text
    return decide_type(normalise(text).text)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_letters_get_the_type_and_priority_an_officer_would_give(case: dict[str, Any]) -> None:
    """seed 001 lines 9-10 (court, substituted service, referral questionnaires are priority) and
    line 76 (what cannot be categorised goes to a person)."""
    decision = decide(case["text"])
    if "expect" in case:
        assert decision.document_type == case["expect"], decision.reasons
    if case.get("not"):
        assert decision.document_type != case["not"], decision.reasons
    if case.get("undecided"):
        assert decision.reasons[0].startswith("undecided: competing cues") and decision.confidence == 0.0
    assert decision.priority is case["priority"], decision.reasons


def test_a_court_header_on_its_own_is_a_priority_court_document() -> None:
    """seed 001 lines 9-10: every court related document is priority, even a page naming no form."""
    header = "FEDERAL CIRCUIT AND FAMILY COURT OF AUSTRALIA (DIVISION 2)\nFile number: PAC 1187/2026\n"
    decision = decide(header)
    assert decision.document_type == "court_document" and decision.priority
    assert not decide("We went to the Family Court once, years ago.").priority


@pytest.mark.parametrize(
    "header",
    [
        "Federal Circuit and Family Court of Australia (Division 2)",  # a cover sheet: the name alone
        "IN THE FAMILY COURT OF WESTERN AUSTRALIA\n\nNotes for the parties",
        "Family Court of Western Australia\nCase number: PTW 1234/2026",
        "Magistrates Court of Victoria\nCase No. M1234567",
        "Affidavit of Jo Citizen sworn 3 March 2026",
    ],
)
def test_court_headers_and_sworn_affidavits_as_registries_print_them_are_priority(header: str) -> None:
    """seed 001 lines 9-10 (all incoming court related documents), issue 14: a court's name as a
    heading of its own or with its division, a case number beside a court, a sworn affidavit."""
    decision = decide(header)
    assert decision.priority, decision.reasons
    assert default_cues().family_of(decision.document_type or "") is not None, decision.reasons


@pytest.mark.parametrize(
    "letter",
    [
        "Last year I went to the Federal Circuit and Family Court of Australia about the children.",
        "My sister's court case number is on the letter she lost.",
        "I swore an affidavit once, years ago.",
    ],
)
def test_a_court_named_in_passing_is_not_a_court_document(letter: str) -> None:
    """seed 001 lines 9-10: a court mentioned in a letter is not a court's document."""
    assert not decide(letter).priority


@pytest.mark.parametrize(
    "title",
    [
        "Application for Final Orders",
        "Response to an Initiating Application",
        "Initiating Application (Family Law)",
        "Subpoena to Produce",
        "Subpoena to give evidence",
        "Notice of Appeal",
        "Notice of Hearing",
        "Notice of Listing",
        "Affidavit. I, the deponent, affirm and say",
        "By consent the Court orders that",
    ],
)
def test_each_registry_form_is_priority_by_its_title(title: str) -> None:
    """seed 001 lines 9-10, 135-141: the forms a registry files are court documents."""
    decision = decide(f"{title}\nThe parties are as named in the file.")
    assert decision.priority, decision.reasons
    assert default_cues().family_of(decision.document_type or "") is not None, decision.reasons


def test_priority_does_not_depend_on_which_type_wins() -> None:
    """seed 001 lines 9-10: a letter about an assessment that also asks for substituted service."""
    letter = (
        "Please treat this as my objection. I object to the decision about my assessment and dispute the "
        "decision: my income is wrong. Could you also arrange "
        "substituted service of my court papers on the other parent?"
    )
    decision = decide(letter)
    assert decision.document_type == "objection" and decision.priority
    assert any(r.startswith("priority: substituted_service") for r in decision.reasons)


def test_competing_forms_of_one_family_give_the_family_type() -> None:
    """seed 001 line 135: a court document whose form is unclear is still a court document."""
    text = "The court orders are attached. Court application filed in the registry on 3 May."
    decision = decide(text)
    assert decision.document_type == "court_document" and decision.priority
    assert "competing forms" in decision.reasons[0]


def test_competing_cues_leave_the_type_to_a_person_with_the_reason() -> None:
    """seed 001 line 76: correspondence that cannot be categorised goes to a person."""
    decision = decide("I want to complain about your service, and I object to the assessment you made.")
    assert decision.document_type is None and decision.confidence == 0.0
    assert "complaint_feedback" in decision.reasons[0] and "objection" in decision.reasons[0]


def test_a_weak_cue_alone_is_not_a_type() -> None:
    """seed 001 line 76: low confidence is no type; the reason names the best guess."""
    decision = decide("Something about the employee, call me.")
    assert decision.document_type is None and "under" in decision.reasons[0]


@pytest.mark.parametrize(
    "text",
    [
        "Please find attached a copy of my payslip.",
        "I have enclosed a copy of my lease and copies of my bank statements.",
        "Here is a copy of the letter from my employer.",
    ],
)
def test_sending_a_copy_is_not_a_retrieval_request(text: str) -> None:
    """seed 001 lines 49-52: document retrieval is a request for a document, not a document sent."""
    assert decide(text).document_type != "document_retrieval"


def test_asking_for_a_copy_is_a_retrieval_request() -> None:
    """seed 001 lines 49-52."""
    assert decide("Can you please email me a copy of my last assessment notice?").document_type == "document_retrieval"


def test_priority_is_on_the_classification_of_a_whole_item() -> None:
    """seed 001 lines 9-10: a court header in an attachment makes the item priority."""
    item = ItemText(
        channel="email",
        sections=[
            Section("subject", "Documents"),
            Section("body 1", "Please see attached, kind regards."),
            Section("attachment 1 scan.pdf", "FAMILY COURT OF WESTERN AUSTRALIA File No. PTW 2201 of 2026"),
        ],
    )
    assert classify(item).document.priority


def test_every_type_the_classifier_gives_has_a_route() -> None:
    """SPEC 5: the routing matrix covers every document type."""
    assert set(default_cues().types) <= set(default_matrix().routes)


def test_a_family_must_name_types_that_have_cues() -> None:
    with pytest.raises(ValueError, match="family"):
        load_cues(
            {
                "version": 1,
                "min_score": 1,
                "confidence_k": 1,
                "types": {"court_order": [{"cue": "x", "weight": 1}]},
                "families": {"court": {"members": ["court_order"], "general": "court_document"}},
            }
        )


def test_an_ocr_damaged_court_header_is_still_priority() -> None:
    """seed 001 lines 9-10: scans of court documents arrive with OCR confusions."""
    page = "FEDERAL CIRCUIT AND FAMI1Y C0URT OF AUSTRALIA (DIVISION 2) Fi1e number: MLC 4410/2026"
    item = ItemText(channel="scan", sections=[Section("scan page 1", page)])
    decision = classify(item).document
    assert decision.document_type == "court_document" and decision.priority


def test_the_web_form_the_sender_chose_wins_a_competition_and_names_the_rival() -> None:
    """seed 001 lines 17-19: the complaints web form is the sender's word on what it is."""
    decision = decide_type("Nobody listens. Freedom of Information request attached.", "complaint_feedback")
    assert decision.document_type == "complaint_feedback"
    assert any(r.startswith("also cues of foi_request") for r in decision.reasons)


def test_a_priority_type_is_not_abstained_for_a_stray_ordinary_cue() -> None:
    """seed 001 line 134: a court order reaches the court team the day it arrives."""
    decision = decide("Change of address. Court order attached: the court orders that the father pay.")
    assert decision.document_type == "court_order" and decision.priority
    assert any(r.startswith("also cues of change_of_circumstances") for r in decision.reasons)
