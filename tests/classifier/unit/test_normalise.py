"""One normalised reading for every matcher: line breaks, hyphenation, Unicode and OCR confusions."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mailintake_classifier.domain import normalise as normalise_module
from mailintake_classifier.domain.at_risk import words as words_module
from mailintake_classifier.domain.at_risk.words import read_words
from mailintake_classifier.domain.classify import ItemText, Section, classify
from mailintake_classifier.domain.normalise import normalise, rewrite, span_in_source
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


# The readings as they were before issue 18 made them cheaper: the new ones must agree exactly.
OLD_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-[ \t]*\r?\n[ \t]*(?=[^\W\d_])")
OLD_CAPITAL_I_IN_WORD = re.compile(r"(?<=[a-z\u00df-\u00ff])I(?=[A-Za-z])")
OLD_SPACE = re.compile(r"\s{2,}|[^\S ]")
OLD_STEPS = (
    (re.compile(r"'"), ""),
    (re.compile(r"(?:[.!?;]+(?=\s|$)|\n)+"), "\x00"),
    (re.compile(r"(?: ?[^a-z0-9.\x00 ]|  )[^a-z0-9.\x00]*|(?<![0-9])\.|\.(?![0-9])"), " "),
    (re.compile(r"\x00+"), " . "),
    (re.compile(r" {2,}"), " "),
)


def _old_lower(text: str) -> str:
    lowered = text.lower() if text.isascii() else normalise_module._lower_keeping_length(text)
    chars = list(lowered)
    for match in re.finditer(r"\S+", lowered):
        word = match.group(0)
        if word.isalpha() or len(word) > 64 or not normalise_module.MENDABLE.search(word):
            continue
        if normalise_module._looks_like_reference(word):
            continue
        chars[match.start() : match.end()] = word.translate(normalise_module.IN_WORD)
    for match in OLD_CAPITAL_I_IN_WORD.finditer(text):
        chars[match.start()] = "l"
    return "".join(chars)


def _corpus() -> list[str]:
    data = Path(__file__).resolve().parents[1] / "data"
    lines = [line for path in sorted(data.glob("at_risk_*.jsonl")) for line in path.read_text().splitlines() if line]
    cases = yaml.safe_load((data / "doctype_cases.yaml").read_text())["cases"]
    return [json.loads(line)["text"] for line in lines] + [c["text"] for c in cases]


OCR_ISH = st.text(alphabet="aIlo01|$@3457 -\n\t\r.,'İß" + "\u00a0", max_size=80)


def test_the_cheaper_reading_is_the_reading_it_replaced() -> None:
    for text in _corpus():
        assert normalise_module._lower(text) == _old_lower(text), text[:60]
        spans = [m.span() for m in normalise_module.HYPHEN_BREAK.finditer(text)]
        assert spans == [m.span() for m in OLD_HYPHEN_BREAK.finditer(text)]


@given(OCR_ISH)
def test_the_cheaper_reading_agrees_on_ocr_damaged_text(text: str) -> None:
    assert normalise_module._lower(text) == _old_lower(text)
    assert [m.span() for m in normalise_module.HYPHEN_BREAK.finditer(text)] == [
        m.span() for m in OLD_HYPHEN_BREAK.finditer(text)
    ]


def test_long_words_with_and_without_digits_are_read_in_linear_time() -> None:
    assert normalise("a" * 100_000 + "1").lower == "a" * 100_000 + "1"  # over 64 characters: left alone
    assert normalise("ki11 " * 20_000).lower == "kill " * 20_000


def _eager_readings(source: str) -> tuple[str, tuple[int, ...], str, tuple[int, ...]]:
    """normalise() and read_words() as they were before issue 18 made the offsets lazy: every
    character's source offset carried through every step."""
    if source.isascii():
        text, origin = source, list(range(len(source)))
    else:
        chars: list[str] = []
        origin = []
        for index, ch in enumerate(source):
            out = ch if ch.isascii() else unicodedata.normalize("NFKC", ch).translate(normalise_module.PUNCTUATION)
            for piece in out:
                chars.append(piece)
                origin.append(index)
        text = "".join(chars)
    text, origin = rewrite(text, origin, normalise_module.HYPHEN_BREAK, lambda m: "")
    text, origin = rewrite(text, origin, normalise_module.SPACE, lambda m: "\n" if m.group(0).count("\n") >= 2 else " ")
    norm_text, norm_origin = text, (*origin, len(source))
    text, origin = normalise_module._lower(text), list(origin)
    for pattern, new in [(words_module.APOSTROPHE, ""), (words_module.SENTENCE_END, "\x00")]:
        text, origin = rewrite(text, origin, pattern, lambda m, new=new: new)
    for pattern, new in [(words_module.OTHER, " "), (words_module.MARK, " . "), (words_module.SPACES, " ")]:
        text, origin = rewrite(text, origin, pattern, lambda m, new=new: new)
    text, origin = " " + text + " ", [origin[0] if origin else 0, *origin, len(source)]
    return norm_text, norm_origin, text, (*origin, len(source))


def _agrees_with_the_eager_readings(source: str) -> None:
    norm_text, norm_origin, words_text, words_origin = _eager_readings(source)
    words = read_words(source)
    assert words.normalised.text == norm_text
    assert words.text == words_text
    assert words.skeleton == words_text.translate(normalise_module.SKELETON)
    assert words.normalised.skeleton == words.normalised.lower.translate(normalise_module.SKELETON)
    assert words.normalised.origin == norm_origin  # worked out on demand, after the text
    assert words.origin == words_origin
    # a reported span's offsets, from its two positions alone (issue 18, session 8)
    step = max(1, len(words.text) // 50)
    for start in range(0, len(words.text) + 1, step):
        for end in (start, start + 1, start + step, len(words.text)):
            if end <= len(words.text):
                assert words.source_span(start, end) == span_in_source(words_origin, start, end), (start, end)
    origin_of = words.normalised.source_of()
    assert [origin_of(n) for n in range(len(norm_text) + 1)] == list(norm_origin)


def test_offsets_worked_out_on_demand_are_the_ones_carried_through_every_step_before() -> None:
    """Issue 18: the readings no longer map every character back to the source as they go; the
    map is built only when a match is reported, and must be the very one built before."""
    for text in _corpus():
        _agrees_with_the_eager_readings(text)
    _agrees_with_the_eager_readings("It\u2019s   the chiId\u2019s\u00a0sch0ol;\n\nhe ki11ed my-\nself!!  . 3.5 ")


@given(st.text(alphabet="aIlo01|$@3457 -\n\t\r.,;!?'İß\u2019\u00a0\uff11", max_size=80))
def test_offsets_worked_out_on_demand_agree_on_odd_text(text: str) -> None:
    _agrees_with_the_eager_readings(text)


def _old_words(source: str) -> str:
    text = normalise_module._lower(OLD_SPACE.sub(normalise_module._one_space, OLD_HYPHEN_BREAK.sub("", source)))
    for pattern, new in OLD_STEPS:
        text = pattern.sub(new, text)
    return f" {text} "


def _agrees_with_the_plainer_patterns(text: str) -> None:
    """Issue 18 (session 8): patterns rewritten to open with the character every match begins
    with, and white space collapsed with str.split, give what the plainer forms gave."""
    assert normalise_module._spaces(text) == OLD_SPACE.sub(normalise_module._one_space, text)
    assert normalise_module._one_spaced(text) == OLD_SPACE.sub(" ", text)
    assert [m.span() for m in normalise_module.SPACE.finditer(text)] == [m.span() for m in OLD_SPACE.finditer(text)]
    capitals = normalise_module.CAPITAL_I_IN_WORD.finditer(text)
    assert [m.span() for m in capitals] == [m.span() for m in OLD_CAPITAL_I_IN_WORD.finditer(text)]
    assert normalise_module._lower(text) == _old_lower(text)
    lower = normalise(text).lower
    for (new, _), (old, _) in zip(words_module.STEPS, OLD_STEPS, strict=True):
        assert [m.span() for m in new.finditer(lower)] == [m.span() for m in old.finditer(lower)], old.pattern
    if text.isascii():  # folding aside, the words reading from the plainer steps
        assert read_words(text).text == _old_words(text)


def test_the_rewritten_patterns_match_as_the_plainer_ones_on_every_text() -> None:
    for text in _corpus():
        _agrees_with_the_plainer_patterns(text)
        _agrees_with_the_plainer_patterns(text.upper())
    for text in ["", " ", "\n\n", " \n \n ", "a\n\n", "\n\na", "a \n\n\n\t b", "x\u2028\u2028y", "a\n \n \nb"]:
        _agrees_with_the_plainer_patterns(text)


@settings(max_examples=400)
@given(st.text(alphabet="aIi1l0|$@. !?;'\x00\n\t\r \u00a0\u2028-,", max_size=60))
def test_the_rewritten_patterns_agree_on_odd_text(text: str) -> None:
    _agrees_with_the_plainer_patterns(text)


def test_a_span_s_offsets_do_not_depend_on_which_positions_were_asked_before() -> None:
    """Issue 18: each step's matches are read only as far as the positions asked for, and the
    words reading's own steps are kept rather than run again. A fresh reading asked for one span,
    one asked for spans from the end backwards, and a reading without its steps kept give the
    offsets carried through every step."""
    import random

    chooser = random.Random(18)
    letters = ["\n\n".join(_corpus()[n : n + 12]) for n in range(0, 240, 60)]
    damaged = "It\u2019s   the chiId\u2019s\u00a0sch0ol;\n\nhe ki11ed my-\nself!!  . 3.5 \n\n'' ok -\nthen"
    for source in [*letters, damaged]:
        _, _, words_text, words_origin = _eager_readings(source)
        step = 97 if source is not damaged else 1  # the short one: every start
        spans = sorted(
            (a, min(len(words_text), a + chooser.randrange(0, 300))) for a in range(0, len(words_text), step)
        )
        read = read_words(source)
        bare = words_module.Words(read.normalised, read.text)  # no steps kept: worked out again
        assert not bare.steps and len(read.steps) == len(words_module.STEPS)
        for start, end in reversed(spans):
            expected = span_in_source(words_origin, start, end)
            assert read_words(source).source_span(start, end) == expected, (start, end)
            assert read.source_span(start, end) == expected and bare.source_span(start, end) == expected


def test_stepping_back_reads_matches_only_as_far_as_asked_and_answers_as_the_eager_map() -> None:
    """Issue 18: `stepped_back` finds a step's matches lazily. Adjacent matches replaced by
    nothing share their start in the result ("''" read as words): a position there must still
    step past both, whether it is the first position asked or comes after others."""
    from mailintake_classifier.domain.normalise import stepped_back

    cases = [
        (words_module.APOSTROPHE, "", "a '' b ''' c' d'"),
        (words_module.MARK, " . ", "x\x00\x00y\x00 z\x00"),
        (normalise_module.HYPHEN_BREAK, "", "self-\nharm and my-\n  self, sister-\ninlaw"),
        (normalise_module.SPACE, " ", "a  b\tc \n\n d\n"),
    ]
    for pattern, new, text in cases:
        result, origin = rewrite(text, list(range(len(text))), pattern, lambda m, new=new: new)
        assert result == pattern.sub(new, text)
        for position in range(len(result)):
            assert stepped_back(pattern, text, len(new))(position) == origin[position], (text, position)
        ascending = stepped_back(pattern, text, len(new))
        assert [ascending(p) for p in range(len(result))] == origin


def _agrees_with_other_in_one_pass(text: str) -> None:
    if "  " not in text:
        assert words_module.other_to_spaces(text) == words_module.OTHER.sub(" ", text), repr(text)


def test_other_marks_in_two_passes_read_as_in_one_on_every_text() -> None:
    """Issue 18 (session 12): the OTHER step in two passes that skip a letter's lone spaces gives
    OTHER's one pass, on the words reading's input of every text of the sets."""
    checked = 0
    for text in _corpus():
        lower = normalise(text).lower
        for pattern, new in words_module.STEPS[:2]:
            lower = pattern.sub(new, lower)
        _agrees_with_other_in_one_pass(lower)
        checked += "  " not in lower
    assert checked > 1000  # the two passes are what most texts take


@settings(max_examples=1000)
@given(st.text(alphabet="ab19 .,;-'\x00\n!?()\u00e9\u2019", max_size=40))
def test_other_marks_in_two_passes_agree_on_odd_text(text: str) -> None:
    _agrees_with_other_in_one_pass(text)
    _agrees_with_other_in_one_pass(" " + text)
