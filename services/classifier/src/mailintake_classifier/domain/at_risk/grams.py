"""The grams the at-risk model reads, and where they sit in its vocabularies (issue 18: CPU per
document).

`word_grams` and `char_wb_4grams` give what the fitted scikit-learn analyzers give (tested). For
scoring, only the grams the vocabulary holds matter, as columns, so `columns_of` builds for each
vocabulary a function from a text to those columns (repeats kept: they are counted), each gram
costing one dict probe at most:
- character 4-grams never cross a word ("char_wb"), so a word's columns are looked up once and
  remembered (`WordColumns`), and a text's are its words' columns strung together;
- word bigrams are looked up by the columns of their two words: every bigram of a fitted word
  vocabulary has both its words in it, so no "a b" string is built.
Counts become (column, count) rows in `count_rows`: ascending columns, as the reference
transform (model.py `Vocabulary.row`) gives them, so the model's sums keep their order.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import chain, pairwise, repeat
from typing import Any, TypeVar

Found = TypeVar("Found")
WORD_TOKEN = r"[a-z0-9]+"  # the word vectorizer's token pattern (model.py fit)
FEW_GRAMS = 200  # up to this many grams a text is counted with plain ints, beyond with numpy
FEW_CHARS = 300  # a single text this short is counted from Python ints (cheaper than arrays)
WORDS_REMEMBERED = 20_000  # distinct words remembered per vocabulary (about 4 MB at most); then start again


def word_grams(text: str) -> list[str]:
    """What the fitted word vectorizer's analyzer gives (lower case, uni- and bigrams), without
    its per-call dispatch: the same tokens in the same order (tested against it)."""
    tokens = re.findall(WORD_TOKEN, text.lower())
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


# Every 4 characters whose middle two are not spaces: in " w1  w2 " (each word padded with a space
# either side) these are exactly the windows inside one padded word.
INSIDE_A_WORD = re.compile(r"(?=(.\S\S.))")


def char_wb_4grams(text: str) -> list[str]:
    """The grams the fitted character vectorizer's analyzer gives ("char_wb", 4-grams: each word
    padded with a space either side, every 4 characters of it, or the whole padded word when it
    is shorter), in another order: they are only counted (tested against it)."""
    words = text.lower().split()
    grams = INSIDE_A_WORD.findall(" " + "  ".join(words) + " ")
    return grams + [f" {word} " for word in words if len(word) == 1]


_LAST_SPLIT: list[tuple[str, list[str]]] = []  # the last text lower_words() split, with its words


def lower_words(text: str) -> list[str]:
    """`text.lower().split()`, remembered for the last text: the word and the character
    vocabularies read the same text one after the other (issue 18). Not to be changed."""
    last = next(iter(_LAST_SPLIT), None)  # read once: another thread may replace it
    if last is not None and last[0] is text:
        return last[1]
    words = text.lower().split()
    _LAST_SPLIT[:] = [(text, words)]
    return words


class WordColumns(dict[str, Found]):
    """word (as str.split() gives it) -> its columns (or their packed bytes), looked up on first
    sight. Bounded: when full it starts again (junk text cannot grow it without limit)."""

    def __init__(self, look_up: Callable[[str], Found], limit: int = WORDS_REMEMBERED) -> None:
        super().__init__()
        self.look_up = look_up
        self.limit = limit

    def __missing__(self, word: str) -> Found:
        found = self.look_up(word)
        if len(self) >= self.limit:
            self.clear()
        self[word] = found
        return found


class Columns:
    """A text -> its grams' columns (repeats kept, -1 for grams outside the vocabulary), as an
    iterable (`columns(text)`) and as a numpy array (`columns.array(text)`): a long text's
    columns are its words' columns as packed int64 bytes, joined, so no Python int is made per
    gram (issue 18: converting a 5 KB letter's ~5,000 columns to an array cost a third of
    reading it)."""

    def __init__(self, look_up: Callable[[str], tuple[int, ...]]) -> None:
        self.known = WordColumns(look_up)
        self.packed = WordColumns(lambda word: array("q", self.known[word]).tobytes())

    def __call__(self, text: str) -> Iterable[int]:
        return chain.from_iterable(map(self.known.__getitem__, lower_words(text)))

    def words_array(self, text: str) -> Any:
        import numpy as np

        return np.frombuffer(b"".join(map(self.packed.__getitem__, lower_words(text))), dtype=np.int64)

    def array(self, text: str) -> Any:
        return self.words_array(text)

    def batch(self, texts: list[str]) -> tuple[Any, Any]:
        """(every column of the texts, the index of the text each is of)."""
        return self.words_batch(texts)

    def words_batch(self, texts: list[str]) -> tuple[Any, Any]:
        """(every column of the texts' words, the index of the text each is of): the texts' words
        strung together and their packed columns joined once, not text by text (issue 18: a
        letter's sentences are scored together, each text cost six calls)."""
        import numpy as np

        if len(texts) == 1:  # a whole text: one owner
            every = self.words_array(texts[0])
            return every, np.zeros(len(every), dtype=np.int64)
        split = [text.lower().split() for text in texts]
        packed = list(map(self.packed.__getitem__, chain.from_iterable(split)))
        every = np.frombuffer(b"".join(packed), dtype=np.int64)
        texts_words = np.repeat(np.arange(len(texts), dtype=np.int64), list(map(len, split)))
        return every, np.repeat(texts_words, np.fromiter(map(len, packed), np.int64, len(packed)) >> 3)


def char_columns(index: dict[str, int]) -> Columns:
    """Columns of a text's character 4-grams: its words' padded 4-grams (char_wb_4grams)."""

    def look_up(word: str) -> tuple[int, ...]:
        padded = f" {word} "
        grams = [padded[i : i + 4] for i in range(len(padded) - 3)] or [padded]
        return tuple(column for gram in grams if (column := index.get(gram)) is not None)

    return Columns(look_up)


class WordAndBigramColumns(Columns):
    """Columns of a text's tokens, then of its bigrams, looked up by their two words' columns."""

    def __init__(self, index: dict[str, int], bigrams: dict[tuple[int, int], int]) -> None:
        import numpy as np

        find = re.compile(WORD_TOKEN).findall
        super().__init__(lambda word: tuple(index.get(token, -1) for token in find(word)))
        self.bigrams = bigrams
        self.width = max(index.values(), default=0) + 1
        keys = sorted((a * self.width + b, column) for (a, b), column in bigrams.items())
        self.keys = np.array([key for key, _ in keys], dtype=np.int64)
        self.key_columns = np.array([column for _, column in keys], dtype=np.int64)

    def __call__(self, text: str) -> Iterable[int]:
        tokens = list(super().__call__(text))
        return chain(tokens, map(self.bigrams.get, pairwise(tokens), repeat(-1)))

    def array(self, text: str) -> Any:
        """The same columns: each pair of neighbouring tokens, both in the vocabulary, looked up
        among the bigrams' (first * width + second) keys, sorted."""
        import numpy as np

        tokens = self.words_array(text)
        return np.concatenate([tokens, self._pairs(tokens, None)])

    def batch(self, texts: list[str]) -> tuple[Any, Any]:
        """All texts' tokens at once, their bigrams looked up together (pairs across two texts
        are not bigrams of either)."""
        import numpy as np

        tokens, owner = self.words_batch(texts)
        if len(texts) == 1:  # one owner: the pairs are only counted, so their order is free
            pairs = self._pairs_by_key(tokens)
            return np.concatenate([tokens, pairs]), np.zeros(len(tokens) + len(pairs), dtype=np.int64)
        pairs = self._pairs(tokens, owner[:-1] == owner[1:])
        return np.concatenate([tokens, pairs]), np.concatenate([owner, owner[:-1]])

    def _pairs_by_key(self, tokens: Any) -> Any:
        """The bigram columns of the pairs of neighbouring tokens, as `_pairs(tokens, None)` gives
        them but in the order of the pairs' keys: sorted keys are found among the vocabulary's
        sorted keys in under half the time (each search starts where the last one ended)."""
        import numpy as np

        first, second = tokens[:-1], tokens[1:]
        keys = np.where((first >= 0) & (second >= 0), first * self.width + second, -1)  # -1: never a key
        keys.sort()
        return self.columns_of_keys(keys)

    def columns_of_keys(self, keys: Any) -> Any:
        """The bigram column of each (first * width + second) key, -1 for a key not in the
        vocabulary; `keys` ascending, as each search then starts where the last one ended."""
        import numpy as np

        if not len(self.keys):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, self.key_columns[at], -1)

    def _pairs(self, tokens: Any, within: Any) -> Any:
        """The bigram column of each pair of neighbouring tokens (-1: none, or not `within`)."""
        import numpy as np

        first, second = tokens[:-1], tokens[1:]
        keys = first * self.width + second
        if not len(self.keys):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = (first >= 0) & (second >= 0) & (self.keys[at] == keys)
        if within is not None:
            found &= within
        return np.where(found, self.key_columns[at], -1)


class BothColumns:
    """One long text's counted columns in both vocabularies from one probe per word (issue 18,
    session 13: the two vocabularies each probed every word and joined its packed columns, and
    each sorted its columns to count them). A word's token columns and its character columns
    (shifted by `offset`, the word vocabulary's width, into one column space, as the model's
    features lie) are packed together as int32, so one join serves both; the tokens are those
    under `offset`, in the text's order, for the bigrams. The tokens and the characters are
    counted by one sort; the bigrams by their sorted keys, each distinct key searched once among
    the vocabulary's. The same (columns ascending, counts) as `count_rows` (tested)."""

    def __init__(self, words: WordAndBigramColumns, chars: Columns, offset: int) -> None:
        self.words, self.chars, self.offset = words, chars, offset
        self.packed = WordColumns(self._pack)

    def _pack(self, word: str) -> bytes:
        shifted = (column + self.offset for column in self.chars.known[word])
        return array("i", (*self.words.known[word], *shifted)).tobytes()

    def __call__(self, text: str) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        """((columns, counts) of the word vocabulary, (columns, counts) of the character one)."""
        import numpy as np

        every = np.frombuffer(b"".join(map(self.packed.__getitem__, lower_words(text))), dtype=np.int32)
        known, counts = _runs(np.sort(every[every >= 0]))
        at = int(np.searchsorted(known, self.offset))
        bigrams, bigram_counts = self._bigrams(every[every < self.offset].astype(np.int64))
        columns = np.concatenate([known[:at], bigrams])
        order = columns.argsort()  # unigram and bigram columns: no two alike
        words = columns[order], np.concatenate([counts[:at], bigram_counts])[order]
        return words, ((known[at:] - self.offset).astype(np.int64), counts[at:])

    def _bigrams(self, tokens: Any) -> tuple[Any, Any]:
        """(columns, counts) of the bigrams of neighbouring tokens (-1: outside the vocabulary)."""
        import numpy as np

        first, second = tokens[:-1], tokens[1:]
        distinct, counts = _runs(np.sort((first * self.words.width + second)[(first >= 0) & (second >= 0)]))
        columns = self.words.columns_of_keys(distinct)
        found = columns >= 0
        return columns[found], counts[found]


def both_columns(
    words: Callable[[str], Iterable[int]], chars: Callable[[str], Iterable[int]], offset: int, width: int
) -> BothColumns | None:
    """A `BothColumns` for a word vocabulary read by tokens and bigrams (`offset` wide) and a
    character one read word by word, `width` columns in all (they must fit int32); otherwise
    None (each vocabulary counts its own)."""
    if not isinstance(words, WordAndBigramColumns) or type(chars) is not Columns or width > 2**31 - 1:
        return None
    return BothColumns(words, chars, offset)


def word_columns(index: dict[str, int]) -> Columns | None:
    """Columns of a text's tokens and bigrams (-1 for those not in the vocabulary), or None when
    some bigram's words are not both in it (then the strings are looked up). A token never spans
    white space, so a text's tokens are its words' tokens in turn, each word's looked up once."""
    bigrams: dict[tuple[int, int], int] = {}
    for gram, column in index.items():
        if " " in gram:
            parts = gram.split(" ")
            if len(parts) != 2 or parts[0] not in index or parts[1] not in index:
                return None
            bigrams[(index[parts[0]], index[parts[1]])] = column
    return WordAndBigramColumns(index, bigrams)


def generic_columns(analyze: Callable[[str], list[str]], index: dict[str, int]) -> Callable[[str], Iterable[int]]:
    return lambda text: map(index.get, analyze(text), repeat(-1))


def columns_of(analyze: Callable[[str], list[str]], index: dict[str, int]) -> Callable[[str], Iterable[int]]:
    """A text -> its grams' columns (repeats kept, -1 for grams outside the vocabulary)."""
    if analyze is char_wb_4grams:
        return char_columns(index)
    if analyze is word_grams:
        return word_columns(index) or generic_columns(analyze, index)
    return generic_columns(analyze, index)


def count_rows(columns: Callable[[str], Iterable[int]], texts: list[str], width: int) -> tuple[list[int], Any, Any]:
    """(indptr, columns, counts) of the texts' rows, CSR-style: each row's columns ascending,
    each once, with how often its grams occur in the text."""
    import numpy as np

    if len(texts) == 1 and (not isinstance(columns, Columns) or len(texts[0]) <= FEW_CHARS):
        found = list(columns(texts[0]))
        if len(found) <= FEW_GRAMS:  # a subject, a form field, a short note: plain ints are cheaper
            counted = Counter(found)
            counted.pop(-1, None)
            ascending = sorted(counted)
            tf = list(map(counted.__getitem__, ascending))
            return [0, len(ascending)], np.array(ascending, dtype=np.int64), np.array(tf, dtype=np.int64)
        every, lengths = np.array(found, dtype=np.int64), [len(found)]
    elif isinstance(columns, Columns):  # the texts' columns as arrays, none as Python ints
        every, owner = columns.batch(texts)
        starts = np.arange(len(texts), dtype=np.int64) * width
        keys = every if len(texts) == 1 else every + owner * width  # one text: its keys are its columns
        return _counted(keys[every >= 0], starts)
    else:
        found, lengths = [], []
        for text in texts:
            before = len(found)
            found += columns(text)
            lengths.append(len(found) - before)
        every = np.array(found, dtype=np.int64)
    starts = np.arange(len(texts), dtype=np.int64) * width
    return _counted((every + np.repeat(starts, lengths))[every >= 0], starts)


def _counted(keys: Any, starts: Any) -> tuple[list[int], Any, Any]:
    """count_rows from the keys (text's start + column) of every gram in the vocabulary."""
    import numpy as np

    keys.sort()
    keys, counts = _runs(keys)  # each (text, column) once
    indptr = [*np.searchsorted(keys, starts).tolist(), len(keys)]
    return indptr, keys - np.repeat(starts, np.diff(indptr)), counts


def _runs(ascending: Any) -> tuple[Any, Any]:
    """(each distinct value, how often it occurs) of an ascending array."""
    import numpy as np

    edges = np.empty(len(ascending) + 1, dtype=bool)  # where a value begins, and the end
    edges[0] = edges[-1] = True
    np.not_equal(ascending[1:], ascending[:-1], out=edges[1:-1])
    at = edges.nonzero()[0]  # (numpy's diff and flatnonzero wrappers cost more than the work here)
    return ascending[at[:-1]], at[1:] - at[:-1]
