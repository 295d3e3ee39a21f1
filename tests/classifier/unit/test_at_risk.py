"""The at-risk detector: plain and indirect wording, idioms, OCR damage, and its measured figures.

The figures asserted here are floors that catch regressions, not goals: the devset is trained
on (in-sample), the held-out set was written by a helper who never saw the rules or the training
data and is never tuned on. docs/performance.md reports both per category and per style.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mailintake_classifier.domain.at_risk import compile_lexicon, default_lexicon, find_at_risk
from mailintake_classifier.domain.at_risk.lexicon import lexicon_hits
from mailintake_classifier.domain.at_risk.words import read_words
from tests.classifier.unit.at_risk_cases import NEGATIVES, POSITIVES

DATA = Path(__file__).resolve().parents[1] / "data"
DEVSET = Path(__file__).resolve().parents[3] / "services/classifier/src/mailintake_classifier/data/at_risk_devset.jsonl"

# Wording from issue 13, found missing by a new user: each must alert.
PLAIN = [
    "He is going to kill me",
    "I don't want to live anymore",
    "I have nothing to live for",
    "he has a knife",
    "I am frightened of my ex",
    "she threatened the children",
    "he grabbed me by the throat",
    "I've given my tools away to my brother and sorted out who gets the dog. Thank you for everything.",
]
IDIOMS = [
    "This debt is killing me, can you set up a payment plan?",
    "I could murder a coffee after that phone queue.",
    "Please update my address to 14 Banksia Street.",
]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rates(items: list[dict]) -> tuple[float, float]:
    positives = [i for i in items if i["at_risk"]]
    negatives = [i for i in items if not i["at_risk"]]
    recall = sum(bool(find_at_risk(i["text"])) for i in positives) / len(positives)
    false_alarms = sum(bool(find_at_risk(i["text"])) for i in negatives) / len(negatives)
    return recall, false_alarms


@pytest.mark.parametrize("text", PLAIN)
def test_plain_and_indirect_wording_alerts(text: str) -> None:
    assert find_at_risk(text), text


@pytest.mark.parametrize("text", IDIOMS)
def test_idioms_and_ordinary_mail_do_not_alert(text: str) -> None:
    assert not find_at_risk(text)


@pytest.mark.parametrize(
    "text", ["KILL MYSELF", "ki11 myse1f", "kill-myself", "I want to kill my-\nself", "kill\nmyself"]
)
def test_tolerates_case_line_breaks_hyphenation_and_ocr_errors(text: str) -> None:
    assert find_at_risk(f"Dear officer, {text}. Regards")


def test_a_match_names_its_passage_part_and_layer() -> None:
    text = "Hello.\n\nPlease help, he grabbed me by the throat last night.\nThanks"
    [match] = find_at_risk(text, part="attachment statement.docx, paragraph 2")
    assert text[match.offset : match.offset + len(match.phrase)] == match.phrase
    assert "throat" in match.phrase and match.category == "family_violence"
    assert match.part == "attachment statement.docx, paragraph 2" and match.layer in {"lexicon", "construction"}


def test_a_span_both_a_phrase_and_a_construction_find_names_the_phrase_in_every_process() -> None:
    """The layer of a match found by both does not depend on string hashing (sameness corpus,
    issue 18: main named either, by the process's hash seed)."""
    text = "I have asked for the exemption from collecting because I am afraid of him and what he would do."
    hits = lexicon_hits(read_words(text), default_lexicon())
    assert [h.layer for h in hits] == ["lexicon", "construction"]
    script = f"from mailintake_classifier.domain.at_risk import find_at_risk; print(find_at_risk({text!r})[0].layer)"
    layers = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
        ).stdout.strip()
        for seed in (1, 2, 3, 4)
    }
    assert layers == {"lexicon"}


def test_the_model_layer_catches_wording_no_rule_has() -> None:
    [match] = find_at_risk("I've rehomed the cat and cleared out my room. Tell the kids I love them.")
    assert match.layer == "model" and match.category == "suicide_self_harm"
    [watching] = find_at_risk("My ex keeps turning up at my work when I finish and sits in the car park watching.")
    assert watching.layer == "model" and watching.category == "family_violence"


def test_the_team_s_earlier_cases_still_alert() -> None:
    missed = [text for _, text, _ in POSITIVES if not find_at_risk(text)]
    assert not missed
    assert sum(bool(find_at_risk(text)) for _, text in NEGATIVES) / len(NEGATIVES) <= 0.15


def test_devset_recall_is_complete_and_false_alarms_bounded() -> None:
    recall, false_alarms = rates(load(DEVSET))
    assert recall == 1.0  # in-sample: the model is trained on this set
    assert false_alarms <= 0.05  # measured 2.4% (in-sample)


@pytest.mark.parametrize(
    ("name", "least_recall", "most_false_alarms"),
    [
        ("at_risk_heldout.jsonl", 0.94, 0.12),  # measured 94.3% / 10.6%
        ("at_risk_heldout_2.jsonl", 0.96, 0.23),  # measured 97.2% / 21.7%; the goal is 95% / 5%
        ("at_risk_heldout_3.jsonl", 0.94, 0.15),  # measured 94.7% / 14.1% (hard 22.4%, everyday 2.5%)
    ],
)
def test_held_out_figures_do_not_regress(name: str, least_recall: float, most_false_alarms: float) -> None:
    recall, false_alarms = rates(load(DATA / name))
    assert recall >= least_recall
    assert false_alarms <= most_false_alarms


def test_everyday_mail_rarely_alerts() -> None:
    """Held-out 3's everyday messages (payments, addresses, forms, in every register): an officer
    is troubled on an ordinary day by at most 1 in 20 (measured 2.5%, never tuned on)."""
    everyday = [item for item in load(DATA / "at_risk_heldout_3.jsonl") if item.get("kind") == "everyday"]
    alerted = sum(bool(find_at_risk(item["text"])) for item in everyday)
    assert len(everyday) >= 100 and alerted / len(everyday) <= 0.05


def test_the_lexicon_is_data_and_easy_to_extend() -> None:
    lexicon = compile_lexicon({"version": 9, "categories": {"custom": {"phrases": ["lose it complet*"]}}})
    assert lexicon.version == 9
    assert [m.category for m in find_at_risk("I will lose it completely", lexicon, use_model=False)] == ["custom"]
    assert not find_at_risk("I will lose it", lexicon, use_model=False)


def test_a_farewell_in_a_payroll_letter_alerts_with_its_own_sentence_as_passage() -> None:
    text = (
        "Please stop the deductions from my pay. By the time you read this it won't matter anyway. "
        "I have left instructions with my sister about the kids."
    )
    matches = find_at_risk(text)
    assert {m.category for m in matches} == {"suicide_self_harm"}
    assert matches[0].phrase == "By the time you read this it won't matter anyway"
    assert text[matches[0].offset :].startswith(matches[0].phrase)


class FixedModel:
    """A stand-in for the trained model with a known score, to pin the combination rule."""

    def __init__(self, score: float) -> None:
        self.score = score

    def scores(self, texts: list[str]) -> list[float]:
        return [self.score for _ in texts]

    def categories(self, texts: list[str]) -> list[str]:
        return ["family_violence" for _ in texts]


MENTIONS = [
    "I'm a journalist writing about suicide among separated fathers; can someone comment?",
    "Could we have 40 of your family violence brochures for our waiting room?",
    "There was an AVO back in 2015 but it lapsed and we co-parent fine.",
    "He has never hit me, he is just slow with the payments.",
    "lol I could kill him, he forgot the school fees again haha",
]


@pytest.mark.parametrize("text", MENTIONS)
def test_a_mention_is_weak_and_needs_the_model_to_agree(text: str) -> None:
    assert find_at_risk(text, use_model=False), "without the model a weak hit still alerts (recall first)"
    assert not find_at_risk(text, None, FixedModel(0.05))
    assert find_at_risk(text, None, FixedModel(0.3))


def test_a_plain_report_beside_a_mention_is_not_weakened() -> None:
    text = "I saw the family violence brochure in your office. He hit me again last night."
    matches = find_at_risk(text, None, FixedModel(0.0))
    assert [m.phrase for m in matches] == ["He hit me again last night"]


def test_the_fast_scoring_path_gives_scikit_learn_s_answers() -> None:
    """The model scores with its own sparse transform (no per-call validation); it must agree with
    scikit-learn's transform, predict_proba and predict on the same fitted estimators."""
    from scipy.sparse import hstack

    from mailintake_classifier.domain.at_risk.model import RiskModel, fit, training_items
    from mailintake_classifier.domain.at_risk.words import read_words

    items = training_items()[::3]
    fitted = fit(items)
    model = RiskModel.of(fitted)
    texts = [read_words(case[1]).text for case in [*POSITIVES[:20], *NEGATIVES[:20]]] + ["", " zzzz qqqq "]
    features = hstack([fitted.words.transform(texts), fitted.chars.transform(texts)]).tocsr()
    expected = fitted.risk.predict_proba(features)[:, 1]
    assert model.scores(texts) == pytest.approx(list(expected), abs=1e-12)
    assert model.categories(texts) == [str(c) for c in fitted.category.predict(features)]


def test_a_text_the_model_scores_under_its_threshold_is_not_split_into_sentences(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 18: the sentences are looked for only to name the passage of a text that scored;
    an ordinary letter never needs them. A text that scores still gets its passage."""
    from mailintake_classifier.domain.at_risk.words import Words

    ordinary = "I moved house last month. My new address is on the form. Kind regards, Sam"
    split = Words.sentences
    monkeypatch.setattr(Words, "sentences", lambda self: pytest.fail("split into sentences"))
    assert find_at_risk(ordinary) == []
    monkeypatch.setattr(Words, "sentences", split)
    scored = find_at_risk("The kids are with me most of the time now. I dont see the point of any of it anymore.")
    assert [(m.layer, m.phrase) for m in scored] == [("model", "I dont see the point of any of it anymore")]
