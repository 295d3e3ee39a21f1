"""Who an item is for, read by a model beside the cues (issue 14).

The cues (audience.py) find what they were written for. Mail in a voice nobody wrote a cue for
slipped past them: an SEO pitch, phishing that names Child Support among myGov's services, a
bookkeeper's remittance, a liquidator's notice. A multinomial logistic regression over the
word uni- and bigrams and character 4-grams of the item's words reading (the at-risk reading,
at_risk/words.py) names one of four audiences:

- `child_support`: the agency's own business (customers, their representatives, courts, other
  agencies writing about a case), whatever else it mentions;
- `employer`: an employer's voice about deductions from employees' pay (payroll, HR, bookkeepers,
  payroll providers, liquidators);
- `other_agency`: meant for another government body and says nothing of child support;
- `unrelated`: not any agency's business (advertising, newsletters, phishing, scams).

It is trained when first used from data/audience_train_a.jsonl to _d (2,007 items, each labelled,
written for training by four helpers who read only SPEC.md and the seeds, never the rules or any
test set; set c's template-built items weigh 0.3) and from the at-risk training sets (3,174
customers' messages to the agency, many of which never name child support: "hi can u tell me
when the next payment is due"), as child support mail weighing `CUSTOMER_MAIL_WEIGHT` of a
labelled item each. Without them the model read a customer's short note that does not name
child support as another agency's 4% of the time. Nothing is downloaded; training is
deterministic. The held-out set (tests/classifier/data/audience_heldout.jsonl) and the routing
decision sets are never read here. What a reading may decide, and from which probability, is
data (audience.yaml `model`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from mailintake_classifier.domain.at_risk.grams import WORD_TOKEN, BothColumns, both_columns
from mailintake_classifier.domain.at_risk.model import TRAINING_FILES as AT_RISK_TRAINING_FILES
from mailintake_classifier.domain.at_risk.model import Vocabulary

LABELS = ("child_support", "employer", "other_agency", "unrelated")
TRAINING_FILES = tuple(f"audience_train_{s}.jsonl" for s in "abcd")
CUSTOMER_MAIL_FILES = AT_RISK_TRAINING_FILES  # customers' own messages, at risk or not: child support mail
WORDS = re.compile(WORD_TOKEN)
# A long item is read by its beginning and its end (the greeting, the first paragraphs, the
# sign-off and signature: who wrote it and to whom), as long as the longest labelled training
# item's reading (1,192 characters). Reading all of a 5 KB letter cost 2.6 times as much.
HEAD_CHARS, TAIL_CHARS = 1000, 300
CUSTOMER_MAIL_WEIGHT = 0.3  # out of fold, 0.2-0.5 read alike; 0.3 misread the fewest customers' notes


@dataclass(frozen=True)
class AudienceReading:
    """The model's audience of one item and its probability, with every label's."""

    label: str
    probability: float
    probabilities: dict[str, float]
    words: int = 0  # how many words it read: a short note says too little to go on

    def of(self, label: str) -> float:
        return self.probabilities.get(label, 0.0)


@dataclass(frozen=True)
class AudienceModel:
    vocabularies: tuple[Vocabulary, ...]  # word uni- and bigrams, then character 4-grams
    coefficients: Any  # numpy, features x labels (the vocabularies' columns one after the other)
    intercepts: Any  # numpy, one per label
    labels: tuple[str, ...]
    training_items: int
    # Both vocabularies' columns of a text in one pass, as the at-risk model reads (grams.py).
    both: BothColumns | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, fitted: Fitted) -> AudienceModel:
        import numpy as np

        regression = fitted.regression
        words, chars = (Vocabulary.of(v) for v in fitted.vectorizers)
        return cls(
            (words, chars),
            np.ascontiguousarray(regression.coef_.T),
            regression.intercept_.copy(),
            tuple(str(c) for c in regression.classes_),
            fitted.training_items,
            both_columns(words.columns, chars.columns, len(words.idf), len(words.idf) + len(chars.idf)),
        )

    def _rows(self, words_text: str) -> list[Any]:
        """The text's tf-idf rows in each vocabulary (at_risk/model.py `Rows`)."""
        if self.both is None or len(self.vocabularies) != 2:
            return [vocabulary.read([words_text]) for vocabulary in self.vocabularies]
        counted = self.both(words_text)
        return [
            v.weighed([0, len(columns)], columns, n) for v, (columns, n) in zip(self.vocabularies, counted, strict=True)
        ]

    def linear(self, words_text: str) -> Any:
        """The regression's linear terms for one words-reading text, one per label."""
        import numpy as np

        total = self.intercepts.copy()
        offset = 0
        for vocabulary, rows in zip(self.vocabularies, self._rows(words_text), strict=True):
            if len(rows.columns):
                total += rows.values @ self.coefficients[rows.columns + offset]
            offset += len(vocabulary.idf)
        return np.asarray(total)

    def read(self, words_text: str) -> AudienceReading:
        """The audience of one item from its words reading (at_risk/words.py `read_words`): of a
        long one, its first `HEAD_CHARS` and last `TAIL_CHARS` characters."""
        if len(words_text) > HEAD_CHARS + TAIL_CHARS:
            words_text = f"{words_text[:HEAD_CHARS]} . {words_text[-TAIL_CHARS:]}"
        linear = [float(x) for x in self.linear(words_text)]
        top = max(linear)
        exps = [math.exp(x - top) for x in linear]
        whole = sum(exps)
        probabilities = {label: e / whole for label, e in zip(self.labels, exps, strict=True)}
        label = max(probabilities, key=probabilities.__getitem__)
        return AudienceReading(label, probabilities[label], probabilities, sum(1 for _ in WORDS.finditer(words_text)))


@dataclass(frozen=True)
class Fitted:
    """The scikit-learn estimators as trained; `AudienceModel.of` keeps what scoring needs."""

    vectorizers: tuple[Any, ...]
    regression: Any
    training_items: int


def words_text(text: str) -> str:
    from mailintake_classifier.domain.at_risk.words import read_words

    return read_words(text).text


def fit(items: Sequence[dict[str, Any]], c: float = 30.0) -> Fitted:
    """Items: {"text", "label", "weight" (1 unless given)}. Each label weighs alike over the items
    of weight 1 (balanced), and an item its label's weight times its own. One BLAS thread, as the
    at-risk model (at_risk/model.py `fit`)."""
    from collections import Counter

    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    texts = [words_text(item["text"]) for item in items]
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=WORD_TOKEN, min_df=2)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 4), min_df=2, sublinear_tf=True)
    with threadpool_limits(limits=1):
        features = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
        labels = [item["label"] for item in items]
        counted = Counter(item["label"] for item in items if item.get("weight", 1.0) == 1.0)
        balanced = {label: sum(counted.values()) / (len(counted) * n) for label, n in counted.items()}
        weights = [balanced[item["label"]] * item.get("weight", 1.0) for item in items]
        regression = LogisticRegression(C=c, max_iter=3000).fit(features, labels, sample_weight=weights)
    return Fitted((words, chars), regression, len(items))


def train(items: Sequence[dict[str, Any]], c: float = 30.0) -> AudienceModel:
    return AudienceModel.of(fit(items, c))


def _lines(name: str) -> list[dict[str, Any]]:
    text = resources.files("mailintake_classifier.data").joinpath(name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def training_items() -> list[dict[str, Any]]:
    """The labelled items, then the customers' messages as child support mail of less weight."""
    labelled = [item for name in TRAINING_FILES for item in _lines(name) if item["label"] in LABELS]
    customers = [
        {"text": item["text"], "label": "child_support", "weight": CUSTOMER_MAIL_WEIGHT}
        for name in CUSTOMER_MAIL_FILES
        for item in _lines(name)
    ]
    return labelled + customers


@lru_cache(maxsize=1)
def default_model() -> AudienceModel:
    return train(training_items())
