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
    assert find_writers(statement) == [Writer("Aroha", "Wiremu")]
    assert find_writers(solicitor) == [Writer("Tomas", "Brandt")]
    assert find_writers(letter) == [Writer("Helen", "Ma")]
    assert find_writers("I think the assessment is wrong and I have said so before.") == []


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
    assert result.writers == [Writer("Omar", "Haddad")]
    assert result.organisation_names == ["Tasman Dairy Pty Ltd"]
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
    assert sum(finder.places is not None for finder in (*WRITER_FINDERS, *ORGANISATION_FINDERS)) == 3


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
