"""The at-risk filter against the labelled set: recall must be 100%, false alarms bounded."""

from __future__ import annotations

import pytest

from mailintake_classifier.domain.at_risk import compile_lexicon, find_at_risk, phrase_pattern
from tests.classifier.unit.at_risk_cases import ACCEPTABLE_FALSE_ALARMS, NEGATIVES, POSITIVES

MAX_FALSE_ALARM_RATE = 0.15


def test_the_labelled_set_is_big_enough_and_covers_every_category_and_channel() -> None:
    assert len(POSITIVES) + len(NEGATIVES) >= 60
    assert {c for _, _, c in POSITIVES} == {"suicide_self_harm", "threat_to_others", "family_domestic_violence"}
    assert {ch for ch, _, _ in POSITIVES} == {"email", "webform", "scan"}


@pytest.mark.parametrize(("channel", "text", "category"), POSITIVES, ids=[t[:40] for _, t, _ in POSITIVES])
def test_every_positive_is_caught_in_its_category(channel: str, text: str, category: str) -> None:
    matches = find_at_risk(text)
    assert category in {m.category for m in matches}, f"missed ({channel}): {text!r}"
    for m in matches:
        assert text[m.offset : m.offset + len(m.phrase)] == m.phrase  # offsets point into the text read


def test_recall_and_false_alarm_rate_on_the_labelled_set() -> None:
    caught = sum(1 for _, text, category in POSITIVES if category in {m.category for m in find_at_risk(text)})
    alarms = [text for _, text in NEGATIVES if find_at_risk(text)]
    recall = caught / len(POSITIVES)
    false_alarm_rate = len(alarms) / len(NEGATIVES)
    print(
        f"at-risk filter: recall {recall:.0%} on {len(POSITIVES)} positives, "
        f"false alarms {false_alarm_rate:.0%} on {len(NEGATIVES)} negatives"
    )
    assert recall == 1.0
    assert false_alarm_rate <= MAX_FALSE_ALARM_RATE
    assert set(alarms) <= ACCEPTABLE_FALSE_ALARMS, set(alarms) - ACCEPTABLE_FALSE_ALARMS


@pytest.mark.parametrize("text", ["KILL MYSELF", "k i l l myself", "ki11 myse1f", "kill-myself", "kill\nmyself"])
def test_tolerates_case_spacing_punctuation_and_ocr_errors(text: str) -> None:
    assert find_at_risk(text)


def test_words_inside_other_words_do_not_match() -> None:
    assert not find_at_risk("The avocado was fresh and the refugee program helped.")


def test_the_lexicon_is_data_and_easy_to_extend() -> None:
    lexicon = compile_lexicon({"version": 9, "categories": {"custom": {"phrases": ["lose it complet*"]}}})
    assert lexicon.version == 9
    assert [m.category for m in find_at_risk("I will lose it completely", lexicon)] == ["custom"]
    assert phrase_pattern("abc*").endswith(r"\s?c")  # open ending: no boundary after the stem
