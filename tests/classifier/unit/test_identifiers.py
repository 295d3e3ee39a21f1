"""CRNs with spaces and OCR confusions, ABNs by checksum, emails, people, and TFN masking."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailintake_classifier.domain import identifiers
from mailintake_classifier.domain.identifiers import (
    ABN_PATTERN,
    EMAIL_PATTERN,
    TFN_MASK,
    abn_valid,
    find_abns,
    find_crns,
    find_emails,
    find_people,
    mask_tfns,
    tfn_valid,
)
from mailintake_common import privacy


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My CRN is 123456789A.", ["123456789A"]),
        ("CRN: 123 456 789a", ["123456789A"]),
        ("reference 123-456-789 K", ["123456789K"]),
        ("CRN l23 456 78O A", ["123456780A"]),  # OCR: l->1, O->0
        ("CRN 2O4 S67 89B X", ["204567898X"]),
    ],
)
def test_crns_are_found_with_spaces_and_ocr_confusions(text: str, expected: list[str]) -> None:
    assert find_crns(text) == expected


@pytest.mark.parametrize("text", ["phone 0412345678", "OBSOLIBOS X", "1234567890A", "12345678A"])
def test_things_that_are_not_crns(text: str) -> None:
    assert find_crns(text) == []


def test_abns_need_a_valid_checksum() -> None:
    assert abn_valid("51824753556")
    assert not abn_valid("51824753557")
    assert find_abns("ABN 51 824 753 556 and ABN 12 345 678 901") == ["51824753556"]


def test_emails_are_found_and_lower_cased() -> None:
    assert find_emails("write to Jane.Doe+cs@Example.COM. or x@y") == ["jane.doe+cs@example.com"]


def test_tfns_are_masked_and_abns_and_crns_are_not() -> None:
    assert tfn_valid("123456782") and not tfn_valid("123456789")
    text = "TFN 123 456 782, ABN 51 824 753 556, CRN 123456782A, not a TFN 123456789"
    masked = mask_tfns(text)
    assert "123 456 782" not in masked and TFN_MASK in masked
    assert "51 824 753 556" in masked and "123456782A" in masked and "123456789" in masked


def test_people_with_a_date_of_birth_are_found() -> None:
    text = "Customer: Alex Demo\nDate of birth: 12/04/1985\nPlease update my address."
    (person,) = find_people(text)
    assert (person.given_name, person.family_name, person.date_of_birth) == ("Alex", "Demo", "1985-04-12")
    assert find_people("Name: Sam Sample, DOB 30 September 1990")[0].date_of_birth == "1990-09-30"
    assert find_people("Name: Sam Sample") == []


# As the patterns were before issue 18 put their first character before their lookbehind, and
# scanned every text: what find_crns, find_abns, find_emails and mask_tfns give must not change.
OLD_CRN = re.compile(r"(?<![A-Za-z0-9])((?:[0-9OoIl|SsBZz][ \-]?){8}[0-9OoIl|SsBZz])[ ]?([A-Za-z])(?![A-Za-z0-9])")


def _old_crns(text: str) -> list[str]:
    found = []
    for match in OLD_CRN.finditer(text):
        raw = re.sub(r"[ \-]", "", match.group(1))
        if sum(ch.isdigit() for ch in raw) >= 6:
            found.append(raw.translate(identifiers.DIGIT_LOOKALIKES) + match.group(2).upper())
    return list(dict.fromkeys(found))


def _agrees_with_whole_scans(text: str) -> None:
    assert [m.span() for m in identifiers.CRN_PATTERN.finditer(text)] == [m.span() for m in OLD_CRN.finditer(text)]
    assert find_crns(text) == _old_crns(text)
    found = (m.group(1).replace(" ", "") for m in ABN_PATTERN.finditer(text))
    assert find_abns(text) == list(dict.fromkeys(d for d in found if abn_valid(d)))
    assert find_emails(text) == list(
        dict.fromkeys(m.group(1).lower().rstrip(".") for m in EMAIL_PATTERN.finditer(text))
    )
    assert mask_tfns(text) == privacy.mask_tfns(text)


def test_identifiers_found_from_their_hints_are_a_whole_scan_s() -> None:
    data = Path(__file__).resolve().parents[1] / "data"
    lines = [line for path in sorted(data.glob("*.jsonl")) for line in path.read_text().splitlines() if line]
    texts = [json.loads(line)["text"] for line in lines]
    texts += ["CRN 2O4 S67 89B X", "x123456789A", "a@b.co 51 824 753 556 123 456 782", "oO0 123 456 789 l Z"]
    for text in texts:
        _agrees_with_whole_scans(text)
    assert sum(bool(_old_crns(t)) for t in texts) >= 5


@given(st.text(alphabet="0123456789OoIlSsBZz|aA -@.x\n", max_size=50))
def test_identifiers_from_hints_agree_on_digit_heavy_text(text: str) -> None:
    _agrees_with_whole_scans(text)


HINTS = (identifiers.CRN_HINT, identifiers.ABN_HINT, identifiers.TFN_HINT)


def _hints_agree(text: str) -> None:
    for hint in HINTS:
        assert identifiers.holds_hint(hint, text) == (hint.search(text) is not None), (hint.pattern, text)


def test_a_hint_tried_at_the_digits_answers_as_a_scan() -> None:
    """Issue 18 (session 12): a hint is tried where the digits are, not scanned for."""
    data = Path(__file__).resolve().parents[1] / "data"
    lines = [line for path in sorted(data.glob("*.jsonl")) for line in path.read_text().splitlines() if line]
    texts = [json.loads(line)["text"] for line in lines]
    # more digits than the tries (then scanned), a hint past them, digits of another script
    spread = "1 " * (identifiers.HINT_TRIES + 10) + "123 456 78"
    texts += [spread, spread[:-10], "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669", "x 12345678 y", ""]
    for text in texts:
        _hints_agree(text)
    assert identifiers.holds_hint(identifiers.TFN_HINT, spread)
    assert not identifiers.holds_hint(identifiers.TFN_HINT, spread[:-10])
    assert sum(identifiers.holds_hint(identifiers.TFN_HINT, t) for t in texts) >= 10


@given(st.text(alphabet="0123456789 -x\n\u0663\uff11", max_size=40))
def test_a_hint_tried_at_the_digits_agrees_on_digit_heavy_text(text: str) -> None:
    _hints_agree(text)


def test_crns_found_stretch_by_stretch_are_the_whole_scan_s() -> None:
    """Issue 18 (session 12): only the stretches between characters no CRN holds, with six
    digits, are scanned; the CRNs are the whole scan's, beside punctuation and other scripts."""
    text = "Ref: 2O4 S67 89B X, and 123456789A.\n(so lo 12 3)\u00e9987 654 32l Q; phone 0412 345 678"
    stretches = [text[a:b] for a, b in identifiers.crn_stretches(text) or []]
    assert stretches == [" 2O4 S67 89B X", " and 123456789A", "987 654 32l Q", " phone 0412 345 678"]
    assert find_crns(text) == _old_crns(text) == ["204567898X", "123456789A", "987654321Q"]
    many = "; ".join(["1 2 3"] * 90) + "; 123 456 789 B"  # more digits than are placed: scanned
    assert identifiers.crn_stretches(many) is None
    assert find_crns(many) == _old_crns(many) == ["123456789B"]


@given(st.text(alphabet="0123456789OoIlSsBZz|aA -x,\u00e9(", max_size=60))
def test_crns_found_stretch_by_stretch_agree_on_odd_text(text: str) -> None:
    assert find_crns(text) == _old_crns(text)
