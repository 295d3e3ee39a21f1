"""The TFN masker's faster patterns find exactly what the first ones found (issue 18).

`ABN_PATTERN` and `TFN_PATTERN` now start with a digit and look behind it afterwards, and a text
with fewer than eight digits is returned without searching (since session 13: without a number
written as a TFN, `test_privacy_shapes.py`). The patterns as they were are kept here and compared
match for match, and `mask_tfns` against a masker built on them, over texts made of digits,
separators, letters and other scripts' digits, where the edges of a number decide.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailintake_common import privacy
from mailintake_common.privacy import ABN_PATTERN, TFN_MASK, TFN_PATTERN, abn_valid, mask_tfns, tfn_valid

FIRST_ABN = re.compile(r"(?<!\d)(\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{3})(?!\d)")
FIRST_TFN = re.compile(r"(?<![\dA-Za-z])(\d{3}[ \-]?\d{3}[ \-]?\d{2,3})(?![\dA-Za-z])")


def masker(abn_pattern: re.Pattern[str], tfn_pattern: re.Pattern[str]) -> Callable[[str], str]:
    """`mask_tfns` as it was before issue 18's changes, on the given patterns."""

    def mask(text: str) -> str:
        if not text:
            return text
        abn_spans = [m.span() for m in abn_pattern.finditer(text) if abn_valid(m.group(1).replace(" ", ""))]

        def replace(match: re.Match[str]) -> str:
            if any(start < match.end() and match.start() < end for start, end in abn_spans):
                return match.group(0)
            digits = re.sub(r"[ \-]", "", match.group(1))
            if not tfn_valid(digits):
                return match.group(0)
            if len(digits) == 9 and privacy.written_as_crn(text, match.start(), match.end()):
                return match.group(0)
            return TFN_MASK

        return tfn_pattern.sub(replace, text)

    return mask


first_mask = masker(FIRST_ABN, FIRST_TFN)


# Digits (ASCII and Arabic-Indic), the separators a number may hold, letters that may touch it,
# and words that label it: what decides where a number starts and ends.
PIECES = st.sampled_from(["1", "2", "3", "4", "6", "8", "9", "0", " ", "-", "A", "x", "\n", "٣", "٤", "CRN ", "TFN "])
TEXTS = st.lists(st.one_of(PIECES, st.sampled_from(["273464686", "492589913", "51 824 753 556"])), max_size=40).map(
    "".join
)


def spans(pattern: re.Pattern[str], text: str) -> list[tuple[tuple[int, int], str]]:
    return [(m.span(), m.group(1)) for m in pattern.finditer(text)]


@settings(max_examples=1500, deadline=None)
@given(TEXTS)
@example("273464686")
@example("a273464686")
@example("٣٤٦٤٦٨٦٢٧")
@example("My tax file number is 492 589 913, please")
def test_the_patterns_find_what_the_first_ones_found(text: str) -> None:
    assert spans(ABN_PATTERN, text) == spans(FIRST_ABN, text)
    assert spans(TFN_PATTERN, text) == spans(FIRST_TFN, text)
    assert mask_tfns(text) == first_mask(text)


def test_a_tfn_in_other_digits_is_still_masked() -> None:
    """The digit count that skips the search counts ASCII digits only in an ASCII text."""
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in "492589913")
    assert tfn_valid(arabic_indic)
    assert mask_tfns(f"my number {arabic_indic} thanks") == f"my number {TFN_MASK} thanks"


class NotSearched:
    def finditer(self, text: str) -> None:
        raise AssertionError("searched")

    sub = finditer


def test_a_text_with_too_few_digits_is_not_searched(monkeypatch) -> None:
    """Since session 13 an ASCII text is looked at in its shape (`test_privacy_shapes.py`), so eight
    digits that are not written as a TFN are not searched either; outside ASCII, eight in a row are."""
    monkeypatch.setattr(privacy, "ABN_PATTERN", NotSearched())
    monkeypatch.setattr(privacy, "TFN_PATTERN", NotSearched())
    letter = "I moved on the 3rd of May and my son turned 12 in June; call me on 041 9."
    assert mask_tfns(letter) is letter
    eight = letter + "8"
    assert mask_tfns(eight) is eight
    try:
        mask_tfns("é " + letter + "12345678")  # eight in a row, outside ASCII: searched
    except AssertionError:
        return
    raise AssertionError("a text with eight digits in a row was not searched")
