"""The generalising layer: a text classifier trained in-process from shipped, labelled data.

Word uni- and bigrams and character 4-grams (robust to OCR damage; 3-5-grams cost 40% more
for no gain in cross-validation) of the words reading feed a logistic regression, trained when
first used from data/at_risk_devset.jsonl (the agency's labelled set) and four training sets,
data/at_risk_train_extra.jsonl, _2, _3 and _4 (each written for training by a different helper who
never saw the rules, the devset or the other sets; _4 is everyday mail in every register, so that
informal writing is not itself read as risk). Nothing is downloaded; training takes about two
seconds of CPU and is deterministic. A second regression over the positives names the category. The
held-out sets under tests/ are never read here.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache, reduce
from importlib import resources
from itertools import pairwise
from operator import add
from typing import Any, Protocol

from mailintake_classifier.domain.at_risk.grams import (
    FEW_CHARS,
    WORD_TOKEN,
    BothColumns,
    both_columns,
    char_wb_4grams,
    columns_of,
    count_rows,
    word_grams,
)
from mailintake_classifier.domain.at_risk.words import read_words

__all__ = ["WORD_TOKEN", "RiskModel", "Scorer", "char_wb_4grams", "default_model", "fit", "train", "word_grams"]

TRAINING_FILES = (
    "at_risk_devset.jsonl",
    "at_risk_train_extra.jsonl",
    "at_risk_train_2.jsonl",
    "at_risk_train_3.jsonl",
    "at_risk_train_4.jsonl",
)


class Scorer(Protocol):
    """What the detector needs of a model: P(at risk) per text, and a category per text."""

    def scores(self, texts: list[str]) -> list[float]: ...

    def categories(self, texts: list[str]) -> list[str]: ...


def _fast_analyzer(vectorizer: Any) -> Callable[[str], list[str]] | None:
    """A plain function doing what the vectorizer's analyzer does, for the two set-ups fit() uses."""
    params = vectorizer.get_params()
    plain = params["lowercase"] and params["preprocessor"] is None and params["strip_accents"] is None
    plain = plain and params["tokenizer"] is None and params["stop_words"] is None and params["input"] == "content"
    if not plain:
        return None
    if params["analyzer"] == "char_wb" and tuple(params["ngram_range"]) == (4, 4):
        return char_wb_4grams
    words = params["analyzer"] == "word" and params["token_pattern"] == WORD_TOKEN
    if words and tuple(params["ngram_range"]) == (1, 2):
        return word_grams
    return None


@dataclass(frozen=True)
class Rows:
    """Texts' tf-idf rows (sublinear tf, idf, l2 norm), CSR-style: row i is
    columns[indptr[i]:indptr[i + 1]] (ascending) and the values there."""

    indptr: list[int]
    columns: Any  # numpy int64
    values: Any  # numpy float64


@dataclass(frozen=True)
class Vocabulary:
    """A fitted TfidfVectorizer's transform (sublinear tf, idf, l2 norm) without scikit-learn's
    per-call input validation, which cost three quarters of scoring one text."""

    analyze: Callable[[str], list[str]]
    index: dict[str, int]
    idf: Any  # numpy array, one weight per feature
    columns: Callable[[str], Iterable[int]]  # a text -> its grams' columns (grams.py)

    @classmethod
    def of(cls, vectorizer: Any) -> Vocabulary:
        analyze = _fast_analyzer(vectorizer) or vectorizer.build_analyzer()
        return cls(analyze, vectorizer.vocabulary_, vectorizer.idf_, columns_of(analyze, vectorizer.vocabulary_))

    def read(self, texts: list[str]) -> Rows:
        """The texts' rows, the same floats as `row` gives each (tested): the same counts in the
        same column order through the same element-wise operations, and each row's norm from
        its own values, as `row` takes it."""
        return self.weighed(*count_rows(self.columns, texts, len(self.idf)))

    def weighed(self, indptr: list[int], columns: Any, counts: Any) -> Rows:
        """The rows of these counts (CSR-style, each row's columns ascending): tf-idf, l2-normalised."""
        import numpy as np

        values = (1.0 + np.log(counts.astype(np.float64))) * self.idf[columns]
        for a, b in pairwise(indptr):
            row = values[a:b]
            norm = math.sqrt(row @ row)  # math.sqrt and np.sqrt: both the correctly rounded root
            if norm > 0:
                row /= norm
        return Rows(indptr, columns, values)

    def row(self, text: str) -> tuple[Any, Any]:
        """(columns ascending, values) of one text's row: tf-idf, l2-normalised. The reference
        `read` is tested against (and scikit-learn's transform, which this is tested against)."""
        import numpy as np

        index = self.index
        found = sorted(
            (column, n) for token, n in Counter(self.analyze(text)).items() if (column := index.get(token)) is not None
        )
        columns = np.array([column for column, _ in found], dtype=np.int64)
        tf = np.array([n for _, n in found], dtype=np.float64)
        values = (1.0 + np.log(tf)) * self.idf[columns]
        norm = float(np.sqrt(values @ values))
        return columns, (values / norm if norm > 0 else values)

    def rows(self, texts: list[str]) -> Any:
        import numpy as np
        from scipy.sparse import csr_matrix

        indptr, indices, data = [0], [], []
        for text in texts:
            columns, values = self.row(text)
            indices.append(columns)
            data.append(values)
            indptr.append(indptr[-1] + len(columns))
        return csr_matrix(
            (np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=(len(texts), len(self.idf))
        )


@dataclass(frozen=True)
class RiskModel:
    words: Vocabulary  # word uni- and bigrams
    chars: Vocabulary  # character 4-grams
    risk: tuple[Any, float]  # logistic regression: (coefficients, intercept); P(at risk) = sigmoid
    category: tuple[Any, Any, list[str]]  # linear SVM: (coefficients, intercepts, categories)
    training_items: int
    # The last single text read, (text, (word rows, character rows)): the detector asks for the
    # category of the text it has just scored, and its features are not read twice.
    _last: list[tuple[str, tuple[Rows, Rows]]] = field(default_factory=list, compare=False, repr=False)
    # A long single text's columns in both vocabularies at once (grams.py), when they allow it.
    both: BothColumns | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, fitted: Fitted) -> RiskModel:
        import numpy as np

        svm = fitted.category
        if len(svm.classes_) < 3:
            raise ValueError("the category model needs at least three categories")
        words, chars = Vocabulary.of(fitted.words), Vocabulary.of(fitted.chars)
        return cls(
            words,
            chars,
            (fitted.risk.coef_.ravel(), float(fitted.risk.intercept_[0])),
            # Column-major, so `coefficients.T` (features x categories) is contiguous and the sparse
            # product does not copy all of it (6 MB) per call; the same numbers either way.
            (np.asfortranarray(svm.coef_), svm.intercept_, [str(c) for c in svm.classes_]),
            fitted.training_items,
            both=both_columns(words.columns, chars.columns, len(words.idf), len(words.idf) + len(chars.idf)),
        )

    def _read(self, texts: list[str]) -> tuple[Rows, Rows]:
        last = next(iter(self._last), None)  # read once: another thread may replace it
        if len(texts) == 1 and last is not None and last[0] == texts[0]:
            return last[1]
        if len(texts) == 1 and self.both is not None and len(texts[0]) > FEW_CHARS:
            (word_columns, word_counts), (char_columns, char_counts) = self.both(texts[0])
            read = (
                self.words.weighed([0, len(word_columns)], word_columns, word_counts),
                self.chars.weighed([0, len(char_columns)], char_columns, char_counts),
            )
        else:
            read = (self.words.read(texts), self.chars.read(texts))
        if len(texts) == 1:
            self._last[:] = [(texts[0], read)]
        return read

    def _features(self, texts: list[str]) -> Any:
        """The reference: scikit-learn's sparse rows, side by side (what the tests compare with)."""
        from scipy.sparse import hstack

        return hstack([self.words.rows(texts), self.chars.rows(texts)]).tocsr()

    def scores(self, texts: list[str]) -> list[float]:
        """P(at risk) of each words-reading text."""
        if not texts:
            return []
        import numpy as np

        coefficients, intercept = self.risk
        words, chars = self._read(texts)
        offset = len(self.words.idf)
        by_word = words.values * coefficients[words.columns]
        by_char = chars.values * coefficients[chars.columns + offset]
        # Each text's products summed one by one from 0.0 in column order, as the sparse product
        # (`_features(...) @ coefficients`) sums them, so every score is the same float to the
        # last bit (tested).
        linear = row_sums(by_word, words.indptr, by_char, chars.indptr)
        return [float(p) for p in 1.0 / (1.0 + np.exp(-(linear + intercept)))]

    def categories(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        import numpy as np
        from scipy.sparse import csr_matrix

        coefficients, intercepts, names = self.category
        words, chars = self._read(texts)
        offset = len(self.words.idf)
        # The rows `_features` gives (word columns, then character columns after the words'), so
        # the sparse product adds the same numbers in the same order.
        indices, data, indptr = [], [], [0]
        for (w, w_end), (c, c_end) in zip(pairwise(words.indptr), pairwise(chars.indptr), strict=True):
            indices += [words.columns[w:w_end], chars.columns[c:c_end] + offset]
            data += [words.values[w:w_end], chars.values[c:c_end]]
            indptr.append(indptr[-1] + (w_end - w) + (c_end - c))
        features = csr_matrix(
            (np.concatenate(data), np.concatenate(indices), np.array(indptr)),
            shape=(len(texts), offset + len(self.chars.idf)),
        )
        return [names[i] for i in (features @ coefficients.T + intercepts).argmax(axis=1)]


def row_sums(first: Any, first_ptr: list[int], second: Any, second_ptr: list[int]) -> Any:
    """Each row's values summed one by one from 0.0, its `first` values (CSR-style) then its
    `second`: `reduce(add, second_row, reduce(add, first_row, 0.0))` per row (the reference,
    tested), without a Python float per value (issue 18). The rows are laid side by side after a
    column of 0.0 and padded with 0.0 (adding 0.0 to a sum that began at +0.0 changes nothing),
    and `cumsum` adds along each row in order, each sum the one before plus the next value."""
    import numpy as np

    rows = len(first_ptr) - 1
    if rows == 1:  # a whole text
        return np.concatenate(([0.0], first, second)).cumsum()[-1:]
    first_lengths, second_lengths = np.diff(first_ptr), np.diff(second_ptr)
    lengths = first_lengths + second_lengths
    width = int(lengths.max(initial=0)) + 1
    if rows * width > 4 * (len(first) + len(second)) + 65_536:  # one long row among many short ones
        first_list, second_list = first.tolist(), second.tolist()
        return np.array(
            [
                reduce(add, second_list[c:c_end], reduce(add, first_list[f:f_end], 0.0))
                for (f, f_end), (c, c_end) in zip(pairwise(first_ptr), pairwise(second_ptr), strict=True)
            ],
            dtype=np.float64,
        )
    table = np.zeros(rows * width, dtype=np.float64)
    starts = np.arange(rows, dtype=np.int64) * width + 1  # where each row's first value goes
    # each value's place: its row's start plus its rank in the row (after the first values, for `second`)
    table[np.repeat(starts - first_ptr[:-1], first_lengths) + np.arange(len(first))] = first
    table[np.repeat(starts + first_lengths - second_ptr[:-1], second_lengths) + np.arange(len(second))] = second
    return table.reshape(rows, width).cumsum(axis=1)[:, -1]


def training_items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    folder = resources.files("mailintake_classifier.data")
    for name in TRAINING_FILES:
        for line in folder.joinpath(name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                items.append(json.loads(line))
    return items


@dataclass(frozen=True)
class Fitted:
    """The scikit-learn estimators as trained; `RiskModel.of` keeps only what scoring needs."""

    words: Any  # TfidfVectorizer (word n-grams)
    chars: Any  # TfidfVectorizer (char n-grams)
    risk: Any  # LogisticRegression: at risk or not
    category: Any  # LinearSVC: which category, for positives
    training_items: int


def fit(items: list[dict[str, Any]], c: float = 8.0) -> Fitted:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC
    from threadpoolctl import threadpool_limits

    texts = [read_words(item["text"]).text for item in items]
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[a-z0-9]+")
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 4), min_df=2, sublinear_tf=True)
    # One BLAS thread: several spin-waiting threads cost ten times the CPU on a busy 2-core machine.
    with threadpool_limits(limits=1):
        features = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
        labels = [bool(item["at_risk"]) for item in items]
        risk = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(features, labels)
        positives = [i for i, label in enumerate(labels) if label]
        # A linear SVM names the category: as accurate out of fold as a multinomial regression
        # (82% against 80%) at a fiftieth of the training time.
        category = LinearSVC(C=1.0).fit(features[positives], [items[i]["category"] for i in positives])
    return Fitted(words, chars, risk, category, len(items))


def train(items: list[dict[str, Any]], c: float = 8.0) -> RiskModel:
    return RiskModel.of(fit(items, c))


@lru_cache(maxsize=1)
def default_model() -> RiskModel:
    return train(training_items())
