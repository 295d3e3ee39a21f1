"""The at-risk model's own feature reading (issue 18: CPU per document): the same grams as the
fitted scikit-learn analyzers and the very same scores, to the last bit, as the sparse product
they replaced, so no decision can move."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mailintake_classifier.domain.at_risk.grams import (
    FEW_CHARS,
    FEW_GRAMS,
    WordAndBigramColumns,
    WordColumns,
    both_columns,
    char_columns,
    columns_of,
    lower_words,
    word_columns,
)
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


def test_rows_read_together_are_each_text_s_reference_row_to_the_last_bit() -> None:
    """`Vocabulary.read` (columns looked up per word and per pair of words, counted for many
    texts at once) gives each text the row the reference transform gives it, bit for bit."""
    model: RiskModel = default_model()
    all_texts = texts()
    long_texts = [" . ".join(all_texts[i : i + 40]) for i in range(0, 400, 40)]  # a few thousand grams each
    assert min(len(char_wb_4grams(t)) for t in long_texts) > FEW_GRAMS
    batches = [all_texts[start : start + 97] for start in range(0, len(all_texts), 97)]
    batches += [[text] for text in [*all_texts[::5], *long_texts]]  # one text: counted with ints or numpy
    for vocabulary in (model.words, model.chars):
        for batch in batches:
            rows = vocabulary.read(batch)
            for i, text in enumerate(batch):
                columns, values = vocabulary.row(text)
                a, b = rows.indptr[i], rows.indptr[i + 1]
                assert rows.columns[a:b].tolist() == columns.tolist(), text[:60]
                assert rows.values[a:b].tobytes() == values.tobytes(), text[:60]
    assert model.scores(long_texts) == [model.scores([text])[0] for text in long_texts]


def test_categories_are_the_reference_products_whether_read_alone_or_together() -> None:
    model: RiskModel = default_model()
    coefficients, intercepts, names = model.category
    all_texts = texts()
    for start in range(0, len(all_texts), 50):
        batch = all_texts[start : start + 50]
        expected = [names[i] for i in (model._features(batch) @ coefficients.T + intercepts).argmax(axis=1)]
        assert model.categories(batch) == expected
    for text in all_texts[:60]:  # as the detector asks: the score, then the category of the same text
        model.scores([text])
        assert model.categories([text]) == model.categories([text, "another text"])[:1]


def test_a_word_s_character_columns_are_looked_up_once_and_the_memory_is_bounded() -> None:
    looked_up = []
    known = WordColumns(lambda word: (looked_up.append(word), len(word))[1:], limit=2)
    assert known["cat"] == (3,) and known["a"] == (1,) and known["cat"] == (3,) and looked_up == ["cat", "a"]
    assert known["x"] == (1,) and len(known) == 1, "full at two words: started again"
    index = {" ca": 0, " cat": 1, "cat ": 2, " a ": 3, "ats ": 4}
    assert list(char_columns(index)("cat")) == [1, 2]
    assert list(char_columns(index)("A cat, CATS  a")) == [3, 1, 1, 4, 3]  # "cat," is its own word


def test_word_columns_fall_back_to_strings_when_a_bigram_s_words_are_not_in_the_vocabulary() -> None:
    assert word_columns({"a": 0, "b": 1, "a b": 2, "b a": 3}) is not None
    assert word_columns({"a": 0, "a b": 1}) is None
    columns = columns_of(word_grams, {"a": 0, "a b": 1})
    assert list(columns("A b a")) == [0, -1, 0, 1, -1]
    pairs = columns_of(word_grams, {"a": 0, "b": 1, "a b": 2})
    assert list(pairs("A b c a b")) == [0, 1, -1, 0, 1, 2, -1, -1, 2]
    assert list(pairs("a.b . a-b,c")) == [0, 1, 0, 1, -1, 2, -1, 2, -1], "tokens within a word, and across words"


def test_a_text_s_columns_as_an_array_are_the_columns_one_by_one() -> None:
    """Issue 18: a long text's columns come as packed arrays (bigrams by a sorted-key search);
    the same columns as the Python path, also where a pair with an unknown word has the key of
    a known bigram (b, unknown) = 1 * 4 - 1 = (a, d)."""
    index = {"a": 0, "b": 1, "a d": 2, "d": 3}
    pairs = word_columns(index)
    assert pairs is not None
    assert pairs.array("b zz a d").tolist() == list(pairs("b zz a d")) == [1, -1, 0, 3, -1, -1, 2]
    assert pairs.array("").tolist() == [] and pairs.array("a").tolist() == [0]
    every, owner = pairs.batch(["b a", "d a d", "", "zz"])  # "a" ending one text, "d" the next: no bigram
    counted = sorted((o, c) for o, c in zip(owner.tolist(), every.tolist(), strict=True) if c >= 0)
    assert counted == [(0, 0), (0, 1), (1, 0), (1, 2), (1, 3), (1, 3)]
    model: RiskModel = default_model()
    for text in texts()[::3]:
        for vocabulary in (model.words, model.chars):
            assert Counter(vocabulary.columns.array(text).tolist()) == Counter(vocabulary.columns(text)), text[:60]


def test_one_text_s_bigrams_looked_up_by_sorted_key_are_its_bigrams() -> None:
    """Issue 18: one text's pairs are looked up in the order of their keys (they are only
    counted), the same columns as in text order, also for the pair (b, unknown) whose key
    1 * 4 - 1 is that of the known bigram (a, d), and with no bigram in the vocabulary."""
    pairs = word_columns({"a": 0, "b": 1, "a d": 2, "d": 3})
    assert pairs is not None
    every, owner = pairs.batch(["b zz a d b a d"])
    assert sorted(every.tolist()) == sorted(pairs("b zz a d b a d")) == [-1, -1, -1, -1, -1, 0, 0, 1, 1, 2, 2, 3, 3]
    assert owner.tolist() == [0] * len(every)
    assert pairs.batch([""])[0].tolist() == [] and pairs.batch(["a"])[0].tolist() == [0]
    no_bigrams = word_columns({"a": 0, "b": 1})
    assert no_bigrams is not None and sorted(no_bigrams.batch(["a b zz"])[0].tolist()) == [-1, -1, -1, 0, 1]
    model: RiskModel = default_model()
    words = model.words.columns
    assert isinstance(words, WordAndBigramColumns)
    for text in texts()[::3]:
        assert Counter(words.batch([text])[0].tolist()) == Counter(words(text)), text[:60]


def test_row_sums_add_each_row_one_by_one_as_the_reference_does_to_the_last_bit() -> None:
    """issue 18: `row_sums` lays the rows side by side for one `cumsum`; a long row among many
    short ones is summed row by row instead. Both give `reduce(add, ...)` from 0.0, bit for bit."""
    from functools import reduce
    from itertools import pairwise
    from operator import add

    from mailintake_classifier.domain.at_risk.model import row_sums

    generator = np.random.default_rng(18)

    def rows(lengths: list[int]) -> tuple[np.ndarray, list[int]]:
        values = generator.normal(0, 1, sum(lengths)) * generator.choice([1e-6, 1.0, 1e3], sum(lengths))
        return values, [0, *np.cumsum(lengths).tolist()]

    shapes = [[0], [1], [7], [0, 0, 3], [5, 0, 9, 1, 30, 2], list(generator.integers(0, 300, 55))]
    shapes += [[20_000, *[1] * 500]]  # padded, this would be 10 million cells: summed row by row
    for shape in shapes:
        first, first_ptr = rows(list(shape))
        second, second_ptr = rows([int(n) for n in generator.integers(0, 50, len(shape))])
        expected = [
            reduce(add, second[c:c_end].tolist(), reduce(add, first[f:f_end].tolist(), 0.0))
            for (f, f_end), (c, c_end) in zip(pairwise(first_ptr), pairwise(second_ptr), strict=True)
        ]
        assert row_sums(first, first_ptr, second, second_ptr).tobytes() == np.array(expected).tobytes()


def test_a_text_s_words_are_split_once_for_both_vocabularies_and_are_its_words() -> None:
    """Issue 18: the word and the character vocabularies read the same text in turn, so its
    split is remembered (for that very text only): any text, in any order, gets its own words."""
    model: RiskModel = default_model()
    some = texts()[:30]
    for text in [*some, *some[::-1], "Ab  CD\te", "ab cd e"]:
        assert lower_words(text) == text.lower().split()
    text = some[3]
    model.words.read([text])
    assert lower_words(text) is lower_words(text), "the split the words' reading made is the characters'"
    equal_not_same = "".join(list(text))
    assert lower_words(equal_not_same) == text.lower().split()


def _assert_both_vocabularies_read_the_reference_rows(model: RiskModel, text: str) -> None:
    """The columns and counts `BothColumns` gives a text make, in each vocabulary, the row the
    reference transform gives it, bit for bit."""
    assert model.both is not None
    for vocabulary, (columns, counts) in zip((model.words, model.chars), model.both(text), strict=True):
        rows = vocabulary.weighed([0, len(columns)], columns, counts)
        expected_columns, expected_values = vocabulary.row(text)
        assert rows.columns.tolist() == expected_columns.tolist(), text[:60]
        assert rows.values.tobytes() == expected_values.tobytes(), text[:60]
        assert rows.columns.dtype == np.int64 and counts.dtype == np.int64


def test_a_text_s_columns_in_both_vocabularies_at_once_make_the_reference_rows_to_the_last_bit() -> None:
    """Issue 18, session 13: one probe per word and one sort count a long text in both
    vocabularies; every text of the sets, odd ones, and long texts read so give the reference
    rows, and a long text's score is the sparse product's to the last bit."""
    model: RiskModel = default_model()
    all_texts = texts()
    long_texts = [" . ".join(all_texts[i : i + 40]) for i in range(0, 400, 40)]
    for text in [*all_texts, *long_texts]:
        _assert_both_vocabularies_read_the_reference_rows(model, text)
    coefficients, intercept = model.risk
    for text in long_texts:
        assert len(text) > FEW_CHARS
        expected = float(1.0 / (1.0 + np.exp(-(model._features([text]) @ coefficients + intercept)))[0])
        model._last.clear()
        assert model.scores([text]) == [expected], text[:60]
        assert model.categories([text]) == model.categories([text, "another text"])[:1]


WORDISH = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 .", min_size=0, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            WORDISH,
            st.text(alphabet="ai0 .\t\n\u00a0\u2003\u3000İßÀéÎ\uff11\u0660-'", max_size=20),
            st.text(alphabet="xyz", min_size=40, max_size=400),  # very long words
            st.integers(0, 10**12).map(str),
            st.sampled_from(["i", "cant", "go", "on", "he", "has", "a", "knife", "kill", "myself", "children"]),
        ),
        max_size=60,
    ).map(" ".join)
)
def test_both_vocabularies_at_once_give_the_reference_rows_on_any_text(text: str) -> None:
    """Unicode (other scripts' letters, digits and spaces), very long words, digits, empty text:
    the same rows as the reference transform."""
    _assert_both_vocabularies_read_the_reference_rows(default_model(), text)


def test_both_vocabularies_are_read_together_only_when_they_can_be() -> None:
    model: RiskModel = default_model()
    assert model.both is not None
    words, chars = model.words.columns, model.chars.columns
    assert both_columns(words, chars, 10, 2**31) is None, "columns past int32"
    assert both_columns(chars, chars, 10, 20) is None and both_columns(words, words, 10, 20) is None
    generic = columns_of(word_grams, {"a": 0, "a b": 1})
    assert both_columns(generic, chars, 10, 20) is None
    tiny = both_columns(word_columns({"a": 0, "b": 1}), char_columns({" a ": 0, " b ": 1}), 2, 4)
    assert tiny is not None
    (word_cols, word_counts), (char_cols, char_counts) = tiny("a b a zz . a")
    assert word_cols.tolist() == [0, 1] and word_counts.tolist() == [3, 1], "no bigram in the vocabulary"
    assert char_cols.tolist() == [0, 1] and char_counts.tolist() == [3, 1]
    (word_cols, _), (char_cols, _) = tiny("")
    assert word_cols.tolist() == [] and char_cols.tolist() == []
