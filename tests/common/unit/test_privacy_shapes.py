"""The TFN masker on a text's shape masks exactly what it masked before (issue 18, session 13).

`mask_tfns` now finds the numbers of an ASCII text in its shape (one byte a character: digit,
letter, space, hyphen, other) instead of running `\\d` patterns over the text, and leaves a text
outside ASCII unsearched when nothing in it is written as a TFN could be. The masker as it was
(session 12) is kept here, with its own patterns, and compared over generated texts: CRNs and
their labels beside TFN-like numbers, numbers spaced and dashed, ABNs, letters and other scripts'
digits and letters touching a number, "?" (which a character outside ASCII is encoded as).
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from mailintake_common import privacy
from mailintake_common.privacy import (
    ABN_PATTERN,
    ABN_SHAPE,
    ROUGH_TFN_SHAPE,
    TFN_MASK,
    TFN_PATTERN,
    TFN_SHAPE,
    ascii_shape,
    mask_tfns,
    rough_shape,
)
from tests.common.unit.test_privacy_patterns import masker

SESSION_12_ABN = re.compile(r"(\d(?<!\d\d)\d[ ]?\d{3}[ ]?\d{3}[ ]?\d{3})(?!\d)")
SESSION_12_TFN = re.compile(r"(\d(?<![\dA-Za-z]\d)\d{2}[ \-]?\d{3}[ \-]?\d{2,3})(?![\dA-Za-z])")


_SESSION_12_SEARCH = masker(SESSION_12_ABN, SESSION_12_TFN)


def session_12_mask(text: str) -> str:
    """`mask_tfns` as it was before session 13: its patterns, and no search under eight digits."""
    if text.isascii() and sum(map(text.count, "0123456789")) < 8:
        return text
    return _SESSION_12_SEARCH(text)


def other_digits(number: str, zero: int) -> str:
    return "".join(chr(zero + int(d)) if d.isdigit() else d for d in number)


# Valid TFNs (nine and eight digits) and an ABN, as people write them, and in other scripts' digits.
NUMBERS = ["273464686", "492589913", "492 589 913", "492-589-913", "492 589-913", "10000017", "100 000 17"]
NUMBERS += ["51 824 753 556", "51824753556", "0412 345 678", "2026-11-20", "12345678", "123 456 789"]
NUMBERS += [other_digits("492589913", 0x0660), other_digits("492 589 913", 0xFF10), other_digits("273464686", 0x0966)]
CHARACTERS = ["1", "4", "9", "0", "٣", "３", " ", "  ", "-", "–", "A", "K", "x", "é", "Ж", "?", "\n", ".", ",", "_"]
WORDS = ["CRN ", "crn no. ", "Customer reference number: ", "TFN ", "tax file number is ", "ABN ", " A", "A."]
PIECES = st.sampled_from([*CHARACTERS, *WORDS, "ca11ab1e0ff1ce", "I’m", "Ref: "])
TEXTS = st.lists(st.one_of(PIECES, st.sampled_from(NUMBERS)), max_size=30).map("".join)
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80)
ASCII_TEXTS = TEXTS.map(lambda text: text.encode("ascii", "replace").decode())


def spans(pattern: re.Pattern[str] | re.Pattern[bytes], text: str | bytes) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]  # type: ignore[arg-type]


@settings(max_examples=3000, deadline=None)
@given(st.one_of(TEXTS, ANY_TEXT))
@example("My CRN is 273 464 686A and my TFN is 492-589-913.")
@example(f"TFN {other_digits('492589913', 0xFF10)} thanks")
@example("é492589913")
@example("?492589913?")
@example("a492589913")
@example("ABN 51 824 753 556 492589913")
@example("51 824 753 556")
def test_the_masker_masks_what_it_masked_before(text: str) -> None:
    assert mask_tfns(text) == session_12_mask(text)


@settings(max_examples=1500, deadline=None)
@given(ASCII_TEXTS)
@example("x492589913 ")
@example("?492 589 913?")
def test_an_ascii_texts_shape_holds_the_patterns_matches_in_place(text: str) -> None:
    shape = ascii_shape(text)
    assert len(shape) == len(text)
    assert spans(TFN_SHAPE, shape) == spans(TFN_PATTERN, text)
    assert spans(ABN_SHAPE, shape) == spans(ABN_PATTERN, text)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(TEXTS, ANY_TEXT))
@example(other_digits("492 589 913", 0xFF10))
@example("é492589913é")
def test_a_text_left_unsearched_holds_no_tfn_pattern_match(text: str) -> None:
    """The rough look at a text outside ASCII may send a text on to be searched for nothing; it
    never lets one through that TFN_PATTERN matches in."""
    assert len(rough_shape(text)) == len(text)
    if TFN_PATTERN.search(text) is not None:
        assert ROUGH_TFN_SHAPE.search(rough_shape(text)) is not None


def test_a_letter_is_searched_in_its_shape_only(monkeypatch) -> None:
    """An ASCII text's numbers come from its shape: the `\\d` patterns never run over it."""

    class NotSearched:
        def finditer(self, text: str) -> None:
            raise AssertionError("searched")

        search = sub = finditer

    monkeypatch.setattr(privacy, "ABN_PATTERN", NotSearched())
    monkeypatch.setattr(privacy, "TFN_PATTERN", NotSearched())
    letter = "Dear team, my CRN is 273 464 686A, my TFN 492 589 913 and my ABN 51 824 753 556. Thanks"
    assert mask_tfns(letter) == letter.replace("492 589 913", TFN_MASK)
    dated = "I’m writing about my daughter, born on 3 May 2019."
    assert mask_tfns(dated) is dated
    try:
        mask_tfns("I’m writing: my TFN is 492 589 913.")  # outside ASCII, written as a TFN: searched
    except AssertionError:
        return
    raise AssertionError("a text outside ASCII holding a TFN was not searched")
