"""Who an item is from: writers, organisations named, an employer's voice, deduction kinds
(seed 001 lines 26, 97, 151-156; issue 14)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from mailintake_classifier.domain.classify import ItemText, Section, classify
from mailintake_classifier.domain.needles import lowered_if_ascii
from mailintake_classifier.domain.quality import PageReading
from mailintake_classifier.domain.senders import (
    ORGANISATION_FINDERS,
    ORGANISATION_PATTERNS,
    WRITER_FINDERS,
    WRITER_PATTERNS,
    Writer,
    deduction_kinds,
    employer_voice,
    find_organisation_names,
    find_writers,
)


def test_the_signatory_a_representatives_client_and_the_sign_off_are_writers() -> None:
    """seed 001 line 26: the agreement is attached to the customer who sent it (or on their behalf)."""
    statement = "I, Aroha Mereana Wiremu, of 12 Tui Street, Rotorua, agree to the terms below."
    solicitor = "Dear Registrar,\nWe act for Mr Tomas Brandt in relation to the enclosed agreement."
    letter = "Could you please tell me where things are at.\n\nKind regards,\nHelen Ma"
    assert find_writers(statement) == [Writer("Aroha", "Wiremu", "signatory")]
    assert find_writers(solicitor) == [Writer("Tomas", "Brandt", "client")]
    assert find_writers(letter) == [Writer("Helen", "Ma", "sign_off")]
    assert find_writers("I think the assessment is wrong and I have said so before.") == []


def test_a_client_first_called_the_mother_or_our_client_is_a_writer() -> None:
    """seed 001 line 26 ("or on the customer's behalf"); issue 14: a descriptor before the name."""
    assert find_writers("We act for the mother, Ms Priya Raman (CRN 111222333A), in this matter.") == [
        Writer("Priya", "Raman", "client")
    ]
    assert find_writers("We are acting for our client, the father, Mr Daniel Okafor.") == [
        Writer("Daniel", "Okafor", "client")
    ]
    assert find_writers("On behalf of the paying parent Lee Nguyen we enclose") == [Writer("Lee", "Nguyen", "client")]


def test_hyphenated_and_apostrophe_names_are_writers_whole() -> None:
    """seed 001 line 26 (on the customer's behalf); issue 14: "We act for Kerry-Anne Bliss" named
    nobody, so a solicitor's agreement went to the other parent."""
    assert find_writers("We act for Kerry-Anne Bliss (CRN 254829681M).") == [Writer("Kerry-Anne", "Bliss", "client")]
    assert find_writers("Kind regards,\nD'Arcy O'Neill") == [Writer("D'Arcy", "O'Neill", "sign_off")]
    assert find_writers("Cheers,\nJean-Luc Picard-Smith") == [Writer("Jean-Luc", "Picard-Smith", "sign_off")]
    # a client by title and family name alone (issue 14: solicitors write so)
    assert find_writers("We act for Ms Nguyen-Smith.\nThe parties are negotiating.") == [
        Writer("", "Nguyen-Smith", "client")
    ]
    assert find_writers("We act for the payer, Mr Hollis, in this matter.") == [Writer("", "Hollis", "client")]
    # the typographic apostrophe Word and phones write (issue 14: "O’Neill" named nobody)
    assert find_writers("Kind regards,\nSiobhan O\u2019Neill") == [Writer("Siobhan", "O'Neill", "sign_off")]
    assert find_writers("We act for Ms Priya D\u2019Souza (CRN 123456789A)") == [Writer("Priya", "D'Souza", "client")]


def test_casual_sign_offs_on_their_own_line_name_the_writer_and_thanks_mid_sentence_does_not() -> None:
    """seed 001 line 26: the customer who sent it; emails end "Cheers," as often as "Regards,"."""
    for sign_off in ("Cheers,", "Thanks", "Many thanks!", "Best,", "Warm regards,", "Thank you.\n"):
        found = find_writers(f"Please register it.\n\n{sign_off}\nRangi Tipene")
        assert found == [Writer("Rangi", "Tipene", "sign_off")], sign_off
    assert find_writers("Cheers, Rangi Tipene") == [Writer("Rangi", "Tipene", "sign_off")]
    assert find_writers("I called and said thanks Daniel Okafor for the help.") == []
    assert find_writers("Thanks Daniel Okafor for calling me back") == []


def test_a_writer_says_whether_it_is_in_the_covering_message_or_what_it_encloses() -> None:
    """Issue 14: an agreement's own "I, ..., of" lines name both parties; routing needs to know
    which writer wrote the covering email and which line is inside the attachment."""
    body = "Please find our agreement attached.\n\nCheers,\nRangi Tipene"
    agreement = "I, Aroha Wiremu, of 4 Kowhai Street, agree.\nI, Rangi Tipene, of 19 Totara Road, agree."
    item = ItemText(
        "email",
        sections=[
            Section("subject", "Agreement"),
            Section("body 1", body),
            Section("attachment 1 a.pdf page 1", agreement),
        ],
    )
    assert classify(item).writers == [
        Writer("Rangi", "Tipene", "sign_off", covering=True),
        Writer("Aroha", "Wiremu", "signatory", covering=False),
        Writer("Rangi", "Tipene", "signatory", covering=False),
    ]
    form = ItemText("webform", sections=[Section("form fields, field message", body)])
    assert classify(form).writers == [Writer("Rangi", "Tipene", "sign_off", covering=True)]
    scan = ItemText("scan", pages=[PageReading("scan-1", 1, body, 90.0, 0.05)])
    assert classify(scan).writers == [Writer("Rangi", "Tipene", "sign_off", covering=False)]


def test_organisations_named_by_their_company_suffix_or_a_label() -> None:
    text = "Remittance from Harbour View Logistics Pty Ltd for November.\nEmployer name: Kestrel Joinery"
    assert find_organisation_names(text) == ["Harbour View Logistics Pty Ltd", "Kestrel Joinery"]


def test_an_employers_voice_and_not_a_customers() -> None:
    """seed 001 lines 151-156: employer correspondence, not only deductions."""
    assert employer_voice("Please note that our employee ceased employment with us on 3 March.")
    assert employer_voice("Employee name: K. Barlow\nEmployee number: 40117\nLast day of work 9 May")
    assert employer_voice("We were appointed joint administrators of the company on 14 June.")
    assert not employer_voice("My boss says he cannot change my roster, so I can't pay more.")
    assert not employer_voice("I asked the payroll department at work to start taking the payments out.")


def test_employer_correspondence_in_its_many_forms_names_its_employer_by_a_run_of_capitals() -> None:
    """seed 001 lines 97 and 151-156; issue 14: a remittance advice, a deduction schedule, a
    payroll provider's notice, a new employer's notices to deduct, a cessation; the employer's
    name without "Pty Ltd" is offered to routing only in employer correspondence."""
    letters = [
        "REMITTANCE ADVICE\nEmployee ref 333444555E amount 212.40\nEmployee ref 555666777F amount 180.00",
        "Attached is the child support deduction schedule for March.",
        "Sunraysia Citrus Growers has sent you a payment.\nAmount: $412.50\nReference: CHILD SUPPORT JUL25",
        "We have received notices to deduct child support from two of our cleaners. First deductions this week.",
        "Our staff member resigned on 12 June; the final deduction was taken from her last pay.",
        "Sunraysia Citrus Growers deductions for April: amounts withheld are below.",
    ]
    for text in letters:
        result = classify(ItemText("email", sections=[Section("body 1", text)]))
        assert result.employer_correspondence, text
    named = classify(ItemText("email", sections=[Section("subject", letters[-1])]))
    assert named.organisation_names == ["Sunraysia Citrus Growers"]
    customer = classify(
        ItemText("email", sections=[Section("body 1", "Dear Sir, Sunraysia Citrus Growers is a nice place.")])
    )
    assert not customer.employer_correspondence and customer.organisation_names == []


def test_s72a_notices_and_standard_deductions_are_told_apart() -> None:
    """seed 001 line 97: S72a notices are the exception, unless included with standard deductions."""
    assert deduction_kinds("Funds withheld under the section 72A notice dated 2 May.") == ["s72a"]
    assert deduction_kinds("Payroll deductions for the fortnight and the s72A amount.") == ["s72a", "standard"]
    assert deduction_kinds("Deducted from the employee's wages as required.") == ["standard"]


def test_classification_carries_who_the_item_is_from() -> None:
    text = (
        "Employer deductions for October for our employee are attached.\n"
        "Regards,\nOmar Haddad\nPayroll Officer, Tasman Dairy Pty Ltd"
    )
    result = classify(ItemText("email", sections=[Section("body 1", text)]))
    assert result.writers == [Writer("Omar", "Haddad", "sign_off", covering=True)]
    # the named company first, then (employer correspondence) runs of capitals routing may match whole
    assert result.organisation_names == ["Tasman Dairy Pty Ltd", "Omar Haddad Payroll Officer"]
    assert result.employer_correspondence and result.deductions == ["standard"]


def _spans(matches: Iterator[re.Match[str]]) -> list[tuple[tuple[int, int], tuple[str | Any, ...]]]:
    return [(m.span(), m.groups()) for m in matches]


def _texts() -> list[str]:
    data = Path(__file__).resolve().parents[1] / "data"
    lines = [line for path in sorted(data.glob("*.jsonl")) for line in path.read_text().splitlines() if line]
    cases = yaml.safe_load((data / "doctype_cases.yaml").read_text())["cases"]
    return [json.loads(line)["text"] for line in lines] + [c["text"] for c in cases] + SIGNED


# Letters as they end, from people and from their representatives (written for this test).
SIGNED = [
    "Thanks again for sorting this out.\n\nKind Regards\nPriya Raman\n\nregards, Sam Kerr",
    "We are acting for our client, Ms Leilani Kahale, and enclose her statement. Yours faithfully, Ngata Legal",
    "ON BEHALF OF Dr Ana Folau: please call.\nSigned by: Ana Folau\nSignature - Ana Folau",
    "Yours sincerely Yours truly,\nJo Bloggs  acting for acting for Mr Jo Bloggs our client Bo Li",
    "Employer: Southern Cross Haulage Pty Ltd\nCompany name: Kea & Co, business: Tui Joinery",
]


def test_writers_and_organisations_tried_at_their_needles_are_a_whole_scan_s() -> None:
    """Issue 18: the sign-off, representative and label patterns are tried only where one of their
    literal starts occurs; they must find what a whole scan finds, match for match."""
    for text in _texts():
        lowered = lowered_if_ascii(text)
        for finder in (*WRITER_FINDERS, *ORGANISATION_FINDERS):
            assert _spans(finder.finditer(text, lowered)) == _spans(finder.pattern.finditer(text)), text[:60]
    assert sum(finder.places is not None for finder in (*WRITER_FINDERS, *ORGANISATION_FINDERS)) == 6


@given(st.lists(st.sampled_from([*SIGNED, "Regards", "regards ", "Mr Al Bo", ",", "\n", " ", "Signed"]), max_size=12))
def test_writers_and_organisations_at_needles_agree_on_mixed_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    for finder in (*WRITER_FINDERS, *ORGANISATION_FINDERS):
        assert _spans(finder.finditer(text, lowered_if_ascii(text))) == _spans(finder.pattern.finditer(text))


# The statement and company-name patterns as they were before issue 18 put their first
# character before their lookbehind: the same matches and groups.
OLD_FIRST_WRITER = re.compile(WRITER_PATTERNS[0].pattern.replace("I(?<![A-Za-z]I)", "(?<![A-Za-z])I", 1))
OLD_FIRST_ORGANISATION = re.compile(ORGANISATION_PATTERNS[0].pattern.replace("([A-Z](?<!\\w[A-Z])", "\\b([A-Z]", 1))


def test_the_patterns_opening_with_their_first_character_match_as_before() -> None:
    assert OLD_FIRST_WRITER.pattern.startswith("(?<![A-Za-z])I,?")
    assert OLD_FIRST_ORGANISATION.pattern.startswith("\\b([A-Z][A-Za-z0-9")
    texts = [
        *_texts(),
        "I, Jane Citizen, of 4 Rose St",
        "xI, Jane Citizen, of",
        "ÀAcme Pty Ltd",
        "é Acme Holdings Ltd.",
    ]
    found = 0
    for text in texts:
        for new, old in ((WRITER_PATTERNS[0], OLD_FIRST_WRITER), (ORGANISATION_PATTERNS[0], OLD_FIRST_ORGANISATION)):
            expected = _spans(old.finditer(text))
            assert _spans(new.finditer(text)) == expected, text[:60]
            found += len(expected)
    assert found > 10
