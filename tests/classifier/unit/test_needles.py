"""Needles (domain/needles.py): skipping a cue is only ever skipping a cue that cannot match, and
trying a cue only where its needles occur finds a match exactly when a whole search does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from mailintake_classifier.domain.audience import default_cues as audience_cues
from mailintake_classifier.domain.doctype import default_cues as type_cues
from mailintake_classifier.domain.needles import (
    CueIndex,
    NeedleAutomaton,
    Places,
    TextNeedles,
    finditer,
    lowered_if_ascii,
    may_match,
    needles,
    search,
)
from mailintake_classifier.domain.normalise import normalise
from mailintake_classifier.domain.senders import EMPLOYER_VOICE_CUE

DATA = Path(__file__).resolve().parents[3] / "services/classifier/src/mailintake_classifier/data"


def _texts() -> list[str]:
    cases = yaml.safe_load((Path(__file__).parents[1] / "data" / "doctype_cases.yaml").read_text())["cases"]
    lines = (DATA / "at_risk_devset.jsonl").read_text().splitlines()
    letters = yaml.safe_load((Path(__file__).parents[1] / "data" / "audience_cases.yaml").read_text())
    texts = [c["text"] for c in cases] + [json.loads(line)["text"] for line in lines if line.strip()]
    texts += [f"{c.get('subject', '')}\n\n{c['text']}" for kind in letters.values() for c in kind]
    return texts + [normalise(t).text for t in texts]


def _all_cues() -> list[tuple[re.Pattern[str], tuple[str, ...] | None]]:
    found = [(c.pattern, c.needles) for cues in type_cues().types.values() for c in cues]
    audience = audience_cues()
    groups = [*audience.groups(), (EMPLOYER_VOICE_CUE,)]
    return found + [(s.pattern, s.needles) for group in groups for s in group]


def test_most_cues_have_needles() -> None:
    cues = _all_cues()
    assert sum(n is not None for _, n in cues) >= len(cues) // 2


def test_no_cue_is_skipped_on_a_text_it_matches() -> None:
    texts = [(t, lowered_if_ascii(t)) for t in _texts()]
    skipped_matches = [
        (pattern.pattern, text[:60])
        for pattern, found in _all_cues()
        for text, lowered in texts
        if not may_match(found, lowered) and pattern.search(text)
    ]
    assert skipped_matches == []


def test_trying_cues_at_their_needles_answers_as_a_whole_search() -> None:
    texts = [(t, lowered_if_ascii(t)) for t in _texts()]
    differ = [
        (pattern.pattern, text[:60])
        for pattern, found in _all_cues()
        for text, lowered in texts
        if search(pattern, found, text, lowered) != (pattern.search(text) is not None)
    ]
    assert differ == []
    assert sum(bool(search(p, f, t, low)) for p, f in _all_cues() for t, low in texts) > 100  # cues do match


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r"\bcourt orders?\b", ("court order",)),
        (
            r"(?<!non-)\binitiating (child support )?agreement\b",
            ("initiating agreement", "initiating child support agreement"),
        ),
        (r"\b(send|post) (me|us)\b", ("post me", "post us", "send me", "send us")),
        (r"\bcs ?1666\b", ("cs 1666", "cs1666")),  # with and without the optional space
        (r"\b(name of )?deponent\b", ("deponent", "name of deponent")),
        (r"\bx?ab\b", None),  # "ab" is too short to be worth a test
        (r"\bcourt( of [a-z]+)?s\b", ("court",)),  # an optional part that is not literal ends the needle
        (r"[a-z]+ court", None),  # starts with a class
        (r"\bcafé\b", None),  # not ASCII: case folding could match what a needle would miss
        (r"\b(attached|attach|enclosed)\b", ("attach", "enclosed")),  # "attached" begins with "attach"
    ],
)
def test_needles_are_the_literal_starts(source: str, expected: tuple[str, ...] | None) -> None:
    assert needles(re.compile(source, re.IGNORECASE)) == expected


WORDS = st.sampled_from(["court", "order", "orders", "Court", "ORDER", "send", "me", "us", "the", "of", " ", "\n", "x"])
PATTERNS = [r"\bcourt orders?\b", r"\b(the court (hereby )?orders|consent orders?)\b", r"\b(send|post) (me|us)\b"]


@given(st.lists(WORDS, max_size=12).map(" ".join), st.sampled_from(PATTERNS))
def test_a_skipped_pattern_never_matches(text: str, source: str) -> None:
    pattern = re.compile(source, re.IGNORECASE | re.MULTILINE)
    if not may_match(needles(pattern), lowered_if_ascii(text)):
        assert pattern.search(text) is None


EDGES = [
    r"\bcourt orders?\b",
    r"(?<!non-)\binitiating agreement\b",  # a lookbehind before the needle
    r"^re: court order",  # a line start (MULTILINE)
    r"\b(send|post) (me|us)\b",
]


@given(
    st.lists(st.sampled_from(["court", "order", "non-", "initiating", "agreement", "re:", "send", "\n", "xcourt"]))
    .map(" ".join)
    .map(lambda t: t.replace(" \n ", "\n")),
    st.sampled_from(EDGES),
)
def test_a_cue_tried_at_its_needles_finds_what_a_search_finds(text: str, source: str) -> None:
    pattern = re.compile(source, re.IGNORECASE | re.MULTILINE)
    assert search(pattern, needles(pattern), text, lowered_if_ascii(text)) == (pattern.search(text) is not None)


def _spans(matches) -> list[tuple[int, int, str | None]]:
    return [(m.start(), m.end(), m.lastgroup) for m in matches]


def _at_risk_set_texts() -> list[str]:
    lines = [
        line
        for path in sorted((DATA.parents[3] / "tests/classifier/data").glob("at_risk_*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    lines += (DATA / "at_risk_devset.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def test_constructions_tried_at_their_places_match_as_a_whole_scan() -> None:
    from mailintake_classifier.domain.at_risk import default_lexicon
    from mailintake_classifier.domain.at_risk.words import read_words

    lexicon = default_lexicon()
    assert lexicon.constructions is not None and lexicon.construction_places is not None
    texts = [read_words(text).text for text in _at_risk_set_texts()]
    found = 0
    for text in texts:
        expected = _spans(lexicon.constructions.finditer(text))
        assert _spans(finditer(lexicon.constructions, lexicon.construction_places, text)) == expected
        found += len(expected)
    assert found > 10  # the sets do hold constructions


def _whole_scan(lexicon):  # the same lexicon, its constructions scanned for over the whole text
    from dataclasses import replace

    return replace(lexicon, starts_in_automaton=False, construction_places=None)


def test_construction_places_from_the_phrase_pass_give_the_hits_of_a_whole_scan() -> None:
    """Issue 18, session 13: where a construction can begin is found by the phrase automaton's
    pass over the skeleton (i and l merged: a superset of the places), not by a pass of its own;
    every set's texts, written as they came and in the i-l confusions OCR makes, hit alike."""
    from mailintake_classifier.domain.at_risk import default_lexicon
    from mailintake_classifier.domain.at_risk.lexicon import lexicon_hits
    from mailintake_classifier.domain.at_risk.words import read_words

    lexicon = default_lexicon()
    assert lexicon.starts_in_automaton and lexicon.construction_places is not None
    scan = _whole_scan(lexicon)
    texts = _at_risk_set_texts()
    texts += [t.replace("i", "l") for t in texts[::4]] + [t.replace("l", "i") for t in texts[1::4]]
    constructions = 0
    for text in texts:
        words = read_words(text)
        hits = lexicon_hits(words, lexicon)
        assert hits == lexicon_hits(words, scan), text[:80]
        constructions += sum(hit.layer == "construction" for hit in hits)
    assert constructions > 10  # the sets do hold constructions


CONSTRUCTION_WORDS = sorted(
    {"i", "l", "ll", ".", "kill", "klll", "myself", "he", "she", "has", "a", "knife", "gun", "want", "to", "lt"}
    | {
        "im",
        "lm",
        "going",
        "end",
        "it",
        "dont",
        "do",
        "not",
        "live",
        "nothing",
        "left",
        "for",
        "stab",
        "him",
        "hlm",
        "bomb",
        "blow",
        "up",
        "scared",
        "of",
        "my",
        "ex",
        "hit",
    }
)  # the words of constructions (data/at_risk.yaml), some in the i-l confusion


@given(st.lists(st.sampled_from(CONSTRUCTION_WORDS), max_size=40).map(" ".join))
def test_construction_places_from_the_phrase_pass_hit_alike_on_any_words(text: str) -> None:
    from mailintake_classifier.domain.at_risk import default_lexicon
    from mailintake_classifier.domain.at_risk.lexicon import lexicon_hits
    from mailintake_classifier.domain.at_risk.words import read_words

    lexicon = default_lexicon()
    words = read_words(text)
    assert lexicon_hits(words, lexicon) == lexicon_hits(words, _whole_scan(lexicon))


OVERLAPPING = re.compile(r" (?:(?P<a>he has a [a-z]+)|(?P<b>has a gun)|(?P<c>a gun and a knife))")


@given(st.lists(st.sampled_from(["he", "has", "a", "gun", "and", "knife", "x"])).map(lambda w: " " + " ".join(w) + " "))
def test_finditer_at_places_keeps_leftmost_non_overlapping_matches(text: str) -> None:
    places = Places(needles(OVERLAPPING, fold=False) or ())
    assert _spans(finditer(OVERLAPPING, places, text)) == _spans(OVERLAPPING.finditer(text))


@given(
    st.text(alphabet="abn -", max_size=40),
    st.lists(st.sampled_from(["ab", "aba", "ba", "bab", "n-b", "nn", "zz"]), min_size=1, unique=True),
)
def test_a_text_s_needles_are_where_find_finds_them(text: str, known: list[str]) -> None:
    """One Aho-Corasick pass finds each needle where repeated `find` does, overlaps too; a needle
    the automaton does not hold is looked up (issue 18)."""
    found = TextNeedles(text, NeedleAutomaton(known[1:]))
    for needle in [*known, "abab"]:
        expected = [at for at in range(len(text)) if text.startswith(needle, at)]
        assert found.places(needle) == expected


@given(
    st.text(alphabet="abAB n\n-é", max_size=30),
    st.text(alphabet="abAB n\n-é", max_size=30),
    st.lists(st.sampled_from(["ab", "aba", "ba", "bab", "n-b", "b\na", "zz"]), min_size=1, unique=True),
    st.lists(st.sampled_from(["ab", "ba", "zz", "b\na"]), max_size=2),
)
@example("xb", "ax", ["b\na"], [])  # a needle across the line break
@example("ab", "ab", ["zz"], ["ab"])  # a needle the automaton lacks, asked of the text alone first
def test_a_text_joined_with_more_has_the_places_of_a_fresh_reading(
    text: str, more: str, known: list[str], asked_first: list[str]
) -> None:
    """`joined` (the paragraphs OCR mended, after the text: issue 18) finds every needle where a
    fresh reading of the whole does, whatever was asked of the text before, whether or not the
    automaton holds a needle with a line break, and for texts that are not ASCII."""
    automaton = NeedleAutomaton(known)
    first = TextNeedles(text, automaton)
    for needle in asked_first:
        first.places(needle)
    joined, fresh = first.joined(more, automaton), TextNeedles(f"{text}\n{more}", automaton)
    assert (joined.text, joined.lowered) == (fresh.text, fresh.lowered)
    for needle in [*known, *asked_first, "abab", "b\na", "a"]:
        assert joined.places(needle) == fresh.places(needle), needle


@given(
    st.text(alphabet="abAB n-é", max_size=30),
    st.lists(st.sampled_from(["ab", "aba", "ba", "bab", "n-b", "nn"]), min_size=1, max_size=3, unique=True),
    st.lists(st.sampled_from(["ab", "aba", "ba", "bab", "n-b", "nn", "zz"]), unique=True),
    st.lists(st.sampled_from(["aba", "bab", "zz", "nn"]), max_size=2),
)
@example("xbab", ["aba", "bab"], ["aba"], [])  # one needle the automaton lacks: looked up
@example("xx", ["aba"], ["aba", "zz"], ["aba"])  # asked before and found nowhere: still no match
def test_a_text_s_needles_answer_a_search_as_a_whole_scan(
    text: str, starts: list[str], known: list[str], asked_first: list[str]
) -> None:
    """`TextNeedles.search` answers as `pattern.search` whether the automaton holds all of a
    pattern's needles (then a pattern none of whose needles occurs is not tried: issue 18), some
    or none of them, whatever was asked of the text before."""
    pattern = re.compile("(?:" + "|".join(re.escape(start) for start in starts) + ")b?", re.IGNORECASE)
    found = TextNeedles(text, NeedleAutomaton(known))
    for needle in asked_first:
        found.places(needle)
    assert found.search(pattern, needles(pattern)) == (pattern.search(text) is not None)


def test_a_text_read_with_another_automaton_is_read_again_when_joined() -> None:
    first = TextNeedles("ab ab", NeedleAutomaton(["zz"]))
    joined = first.joined("ab", NeedleAutomaton(["ab"]))
    assert joined.places("ab") == [0, 3, 6]


def test_cues_searched_and_found_through_a_text_s_needles_answer_as_a_whole_scan() -> None:
    """TextNeedles.search and finditer (one automaton over every cue's needles) against
    pattern.search and pattern.finditer, on every cue and finder and every text of the sets."""
    from mailintake_classifier.domain.classify import default_needles
    from mailintake_classifier.domain.identifiers import NAME_FINDER
    from mailintake_classifier.domain.senders import ORGANISATION_FINDERS, WRITER_FINDERS

    automaton = default_needles()
    finders = [*WRITER_FINDERS, *ORGANISATION_FINDERS, NAME_FINDER]
    matched = found_spans = 0
    for text in _texts():
        read = TextNeedles(text, automaton)
        for pattern, needles_found in _all_cues():
            expected = pattern.search(text) is not None
            assert read.search(pattern, needles_found) == expected, (pattern.pattern, text[:60])
            matched += expected
        for finder in finders:
            expected_spans = _spans(finder.pattern.finditer(text))
            assert _spans(finder.finditer_in(read)) == expected_spans, (finder.pattern.pattern, text[:60])
            found_spans += len(expected_spans)
    assert matched > 100 and found_spans > 20


def test_the_cues_not_asked_are_cues_that_do_not_match_on_every_text() -> None:
    """Issue 18 (session 12): `CueIndex.to_ask` leaves out only cues whose search answers False,
    on every cue and text of the sets (as read by `classify`, and joined with more), and leaves
    out most of them; a text read without the automaton asks every cue."""
    from mailintake_classifier.domain.classify import default_needles

    cues = _all_cues()
    index = CueIndex([found for _, found in cues])
    partial = NeedleAutomaton(sorted(default_needles().needles)[::2])  # the others looked up with find
    asked = matched = 0
    for text in _texts():
        whole = TextNeedles(text, default_needles())
        for read in (whole, whole.joined("x", default_needles()), TextNeedles(text, partial)):
            to_ask = index.to_ask(read)
            for at, (pattern, found) in enumerate(cues):
                if at not in to_ask:
                    assert not read.search(pattern, found), (pattern.pattern, text[:60])
            asked += sum(at in to_ask for at in range(len(cues)))
            matched += sum(read.search(pattern, found) for pattern, found in cues)
    assert matched > 100 and asked < len(_texts()) * 3 * len(cues) / 2
    assert index.to_ask(TextNeedles("a claim for child support")) == range(len(cues))
    assert index.to_ask(TextNeedles("caf\u00e9 child support", default_needles())) == range(len(cues))


def test_a_text_asks_only_the_type_cues_that_can_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """The type cues of a letter are asked only where one of their needles occurs."""
    from mailintake_classifier.domain.classify import default_needles
    from mailintake_classifier.domain.doctype import score_types

    text = "Dear sir, I am writing to tell you my new address. Thank you for your help with my assessment."
    asked: list[str] = []
    search = TextNeedles.search

    def counted(self: TextNeedles, pattern: re.Pattern[str], found: tuple[str, ...] | None) -> bool:
        asked.append(pattern.pattern)
        return search(self, pattern, found)

    monkeypatch.setattr(TextNeedles, "search", counted)
    cues = type_cues()
    scores, _ = score_types(text, None, cues, TextNeedles(text, default_needles()))
    every = sum(len(c) for c in cues.types.values())
    assert 0 < len(asked) < every / 4
    asked.clear()
    assert score_types(text, None, cues, TextNeedles(text))[0] == scores  # no automaton: every cue asked
    assert len(asked) == every
