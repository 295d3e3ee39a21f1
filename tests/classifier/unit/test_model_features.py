"""The at-risk model's own feature reading (issue 18: CPU per document): the same grams as the
fitted scikit-learn analyzers and the very same scores, to the last bit, as the sparse product
they replaced, so no decision can move."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from mailintake_classifier.domain.at_risk.model import RiskModel, char_wb_4grams, default_model, fit, word_grams
from mailintake_classifier.domain.at_risk.words import read_words

ROOT = Path(__file__).resolve().parents[3]
SETS = [
    ROOT / "services/classifier/src/mailintake_classifier/data/at_risk_devset.jsonl",
    ROOT / "tests/classifier/data/at_risk_heldout.jsonl",
    ROOT / "tests/classifier/data/at_risk_heldout_2.jsonl",
    ROOT / "tests/classifier/data/at_risk_heldout_3.jsonl",
]
ODD = [
    "",
    "   ",
    "a",
    " i . a b c . x ",
    "ok i\tcant\u00a0do\u2003this  any more",
    "MIXED Case İstanbul ÀÉÎ straße",
    "one-letter words a i o u and long words antidisestablishmentarianism",
    "digits 12 345 6789 and 0 and q1234",
]


def texts() -> list[str]:
    items = [json.loads(line) for path in SETS for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [read_words(item["text"]).text for item in items] + ODD


def test_word_and_character_grams_are_scikit_learn_s() -> None:
    from mailintake_classifier.domain.at_risk.model import training_items

    fitted = fit(training_items()[::6])
    words, chars = fitted.words.build_analyzer(), fitted.chars.build_analyzer()
    for text in texts():
        assert word_grams(text) == words(text), text[:60]
        assert Counter(char_wb_4grams(text)) == Counter(chars(text)), text[:60]


def test_scores_are_the_sparse_products_to_the_last_bit() -> None:
    model: RiskModel = default_model()
    coefficients, intercept = model.risk
    all_texts = texts()
    for start in range(0, len(all_texts), 50):  # batches, as the detector scores a text's sentences
        batch = all_texts[start : start + 50]
        sparse = model._features(batch) @ coefficients + intercept
        expected = [float(p) for p in 1.0 / (1.0 + np.exp(-sparse))]
        assert model.scores(batch) == expected
    assert [model.scores([t])[0] for t in all_texts[:40]] == model.scores(all_texts[:40])
