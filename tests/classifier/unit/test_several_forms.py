"""Several forms of one customer scanned together (seed 001 line 99: "This process applies to
correspondence where multiple unrelated customers are listed in the one scan, or multiple forms
for the same customer have been scanned together"). A form starts on a page whose opening lines
carry a form's title; a long letter, a form with its continuation pages, a covering letter with
one form and an agreement with its annexures are one document each."""

from __future__ import annotations

from mailintake_classifier.domain.classify import ItemText, Section, classify
from mailintake_classifier.domain.doctype import default_cues
from mailintake_classifier.domain.forms import FormStart, form_starts, page_title_type, several_forms
from mailintake_classifier.domain.quality import PageReading

CRN = "Customer reference number: 318642975D"
COC = [
    "Services Australia - Child Support",
    "Change of circumstances",
    "Tell us about changes to your income, care or address",
    "Name: Jo Citizen",
    CRN,
    "What has changed: my address. Date of the change: 3 March 2026",
    "Signature: J Citizen   Date: 4 March 2026",
]
APPLICATION = [
    "CHILD SUPPORT",
    "Application for Child Support",
    "Part A - About you",
    "Name: Jo Citizen   Date of birth: 12 April 1985",
    CRN,
    "Page 1 of 2",
]
APPLICATION_PAGE_2 = [
    "Application for Child Support",
    "Part B - About the children",
    "Child 1: Sam Citizen, born 2 May 2015",
    "Signature: J Citizen",
    "Page 2 of 2",
]
OBJECTION = [
    "Objection to a child support decision",
    "Use this form to object to a decision we made",
    "Name: Jo Citizen",
    CRN,
    "Decision objected to: assessment of 4 November 2025",
    "Grounds: the income used is wrong.",
]


def pages(*texts: list[str], part: str = "scan-1") -> list[PageReading]:
    return [PageReading(part, n, "\n".join(lines), 91.0, 0.05) for n, lines in enumerate(texts, start=1)]


def counted(readings: list[PageReading]) -> bool:
    return several_forms(form_starts(readings))


def test_two_forms_of_the_same_type_scanned_together_are_several_forms() -> None:
    """seed 001 line 99: multiple forms for the same customer scanned together."""
    starts = form_starts(pages(COC, COC))
    assert starts == [
        FormStart("scan-1", 1, "change_of_circumstances"),
        FormStart("scan-1", 2, "change_of_circumstances"),
    ]
    assert several_forms(starts)


def test_forms_of_different_types_each_with_their_pages_are_several_forms() -> None:
    """seed 001 line 99: an application (two pages, the second titled again) and an objection."""
    starts = form_starts(pages(APPLICATION, APPLICATION_PAGE_2, OBJECTION))
    assert [(s.page, s.document_type) for s in starts] == [(1, "application_child_support"), (3, "objection")]
    assert several_forms(starts)


def test_a_form_with_its_continuation_pages_is_one_form() -> None:
    """seed 001 line 99: the pages of one form are not several forms, even titled on every page."""
    continued = ["Objection to a child support decision (continued)", "Grounds: the income used is wrong."]
    assert not counted(pages(APPLICATION, APPLICATION_PAGE_2))
    assert not counted(pages(OBJECTION, continued))


def test_a_long_letter_is_not_several_forms() -> None:
    """seed 001 line 99: a letter whose pages speak of applications and objections is one letter."""
    letter = pages(
        ["12 Banksia Street", "Dubbo NSW 2830", "4 March 2026", "Dear Sir or Madam,", "Re: Objection", CRN],
        ["Objection to the decision was lodged last year, as you know.", "was late."],
        ["Change of circumstances", "as I said, my income has changed again.", "Yours sincerely,", "Jo Citizen"],
        ["Change of circumstances forms are on your website, I know.", "Thanks again"],
    )
    assert form_starts(letter) == []
    assert not counted(letter)


def test_a_covering_letter_with_one_form_is_not_several_forms() -> None:
    """seed 001 line 99: a covering letter names the form it encloses; it is not a second form."""
    with_subject = ["4 March 2026", "Child Support", "Re: Application for Child Support", "Dear Officer,"]
    heading_only = ["Child Support Agency", "Application for Child Support", "Please find my form enclosed.", "Regards"]
    reference_only = ["Child Support", "Re: Application for Child Support", "Please find my application enclosed."]
    for covering in (with_subject, heading_only, reference_only):
        assert page_title_type(pages(covering)[0], default_cues()) is None
        assert not counted(pages(covering, APPLICATION, APPLICATION_PAGE_2))


def test_an_agreement_with_its_annexures_is_not_several_forms() -> None:
    """seed 001 lines 25 and 99: an agreement that annexes forms is one document."""
    agreement = ["Binding Child Support Agreement", "Between Jo Citizen and Alex Citizen", "Page 1 of 3"]
    annexed = pages(agreement, ["Annexure A", *COC], ["Annexure B", *OBJECTION])
    assert not counted(annexed)
    untitled_annexures = pages(agreement, COC, OBJECTION)  # pages after an agreement are its annexures
    assert not counted(untitled_annexures)


def test_one_form_in_each_of_two_parts_is_not_several_forms_in_one_scan() -> None:
    """seed 001 line 99 speaks of forms scanned together: counted within one scan or PDF."""
    assert not counted(pages(COC) + pages(OBJECTION, part="attachment-2"))


def test_a_court_filing_counts_once_but_a_registry_form_with_an_agency_form_is_two() -> None:
    """seed 001 line 141: court applications go to the court team as one filing; a registry form
    scanned with an agency form is two forms."""
    initiating = ["FEDERAL CIRCUIT AND FAMILY COURT OF AUSTRALIA", "Initiating Application (Family Law)", CRN]
    hearing = ["FEDERAL CIRCUIT AND FAMILY COURT OF AUSTRALIA", "Notice of Hearing", "File number: SYC 7310/2026"]
    assert [s.document_type for s in form_starts(pages(initiating, hearing))] == ["court_application"] * 2
    assert not counted(pages(initiating, hearing))
    assert counted(pages(initiating, COC))


def test_a_title_read_with_ocr_slips_still_starts_a_form() -> None:
    """seed 001 line 99, on scanned pages: "Change 0f Circumstances" is read as the title."""
    slipped = ["Change 0f Circumstances", *COC[2:]]
    assert counted(pages(slipped, COC))


def test_classify_says_several_forms_for_a_scan_only_when_there_are() -> None:
    """seed 001 line 99, through classify(): the flag routing reads."""
    assert classify(ItemText("scan", pages=pages(COC, OBJECTION))).several_forms is True
    assert classify(ItemText("scan", pages=pages(APPLICATION, APPLICATION_PAGE_2))).several_forms is False
    email = ItemText("email", sections=[Section("body 1", "\n".join(COC + OBJECTION))])
    assert classify(email).several_forms is False
