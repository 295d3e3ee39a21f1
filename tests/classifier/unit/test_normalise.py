"""One normalised reading for every matcher: line breaks, hyphenation, Unicode and OCR confusions."""

from __future__ import annotations

from mailintake_classifier.domain.classify import ItemText, Section, classify
from mailintake_classifier.domain.normalise import normalise
from mailintake_classifier.domain.quality import PageReading


def test_wrapped_lines_and_hyphenation_are_undone_and_offsets_point_into_the_source() -> None:
    source = "I want to hurt my-\nself.  CRN 403 992\n117D"
    reading = normalise(source)
    assert reading.text == "I want to hurt myself. CRN 403 992 117D"
    start = reading.lower.index("myself")
    assert reading.source_text(start, start + len("myself")) == "my-\nself"


def test_unicode_is_folded_and_ocr_confusions_are_mended_inside_words_only() -> None:
    reading = normalise("It\u2019s the chiId\u2019s sch0ol, ki11 at 10am on the 3rd, CRN 403992117D, \uff11\uff12")
    assert reading.lower == "it's the child's school, kill at 10am on the 3rd, crn 403992117d, 12"


def test_a_crn_wrapped_across_two_lines_is_found() -> None:
    result = classify(ItemText("email", sections=[Section("body 1", "CRN 403 992\n117D and CRN 412 118 9\n03 K")]))
    assert result.identifiers.crn == ["403992117D", "412118903K"]


def test_a_separator_sheet_printed_on_three_lines_is_recognised() -> None:
    result = classify(ItemText("scan", pages=[PageReading("p1", 1, "BATCH\n\nSEPARATOR\n\nSHEET\n", 91.0, 0.01)]))
    assert result.pages[0].separator


def test_a_long_run_of_punctuation_is_read_in_linear_time() -> None:
    # "[[[[..." (a JSON nesting bomb from the corpus) took 43 s with a look-ahead word pattern.
    assert normalise("[" * 100_000).lower == "[" * 100_000
