"""One normalised reading of a text, shared by every matcher (at-risk, identifiers, types, sheets).

Letters and scans arrive wrapped, hyphenated across lines, in odd Unicode and with OCR
confusions. Matching on the raw text lets a line break hide a CRN or a sentence, so every
matcher reads the same normalised text instead:

- Unicode NFKC (full-width digits, ligatures, non-breaking spaces), typographic quotes and
  dashes to ASCII;
- a word hyphenated across a line break is joined ("self-\\nharm" -> "selfharm"), and every
  other run of white space becomes one space, except a blank line, which stays a paragraph
  break ("\\n") so sentences do not run across paragraphs;
- `lower`: lower case with OCR confusions mended inside words (digits among letters:
  "ki11" -> "kill", "c0urt" -> "court"; a capital I inside a lower-case word: "chiId" -> "child");
- `skeleton`: `lower` with i and l merged, for phrase look-ups where OCR cannot tell them apart.

All three have the same length, and `origin[i]` is the offset in the source of character i, so
a match found here is reported as the exact source text it came from.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": "",  # soft hyphen
        "\u200b": "",  # zero-width space
        "\u200c": "",
        "\u200d": "",
        "\ufeff": "",
    }
)
# Digits and symbols OCR reads for letters, mended only inside a word that has letters.
IN_WORD = str.maketrans({"0": "o", "1": "l", "|": "l", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "@": "a"})
SKELETON = str.maketrans({"i": "l", "!": "l"})
WORD = re.compile(r"\S+")  # linear: a pattern that looks ahead for a letter is quadratic on "[[[[..."
MENDABLE = re.compile(r"[a-z].*[0-9|$@]|[0-9|$@].*[a-z]")
# A whole word (as WORD) holding one of what IN_WORD mends; possessive, so linear on any text.
# Words holding one of what IN_WORD mends (as `(?<!\S)[^\s0-9|$@]*+[0-9|$@]\S*+` finds them), found
# from those characters: a scan for a character class skips the rest of the text at C speed,
# where a pattern opening with a lookbehind is tried at every position (issue 18). Then the word
# around it: back to the last white space, on to the next.
CONFUSABLE = re.compile(r"[0-9|$@]")
LAST_SPACE = re.compile(r".*\s", re.DOTALL)
NON_SPACE = re.compile(r"\S*")
# The hyphen first (then the letter before it): the regex engine jumps from hyphen to hyphen.
HYPHEN_BREAK = re.compile(r"-(?<=[^\W\d_]-)[ \t]*\r?\n[ \t]*(?=[^\W\d_])")
# \s{2,}|[^\S ]: a single space is already what it becomes. The white space first, then whether
# more follows or it was not a space: the regex engine jumps from white space to white space.
SPACE = re.compile(r"\s(?:\s+|(?<=[^\S ]))")
# Two line breaks with nothing but white space between: a run of white space SPACE makes a
# paragraph break. It opens with a literal, so the regex engine jumps from line break to line break.
PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
# The I first (then the letter before it), for the same reason.
CAPITAL_I_IN_WORD = re.compile(r"I(?<=[a-z\u00df-\u00ff]I)(?=[A-Za-z])")


@dataclass(frozen=True)
class Normalised:
    source: str
    text: str  # case kept
    lower: str

    @cached_property
    def skeleton(self) -> str:
        return self.lower.translate(SKELETON)

    @cached_property
    def origin(self) -> tuple[int, ...]:
        """The source offset of each character, plus len(source) at the end. Worked out only when
        asked (a match is reported): most texts hold none, and mapping every character of every
        text cost as much as the reading itself."""
        return (*self.origins.tolist(), len(self.source))

    @cached_property
    def origins(self) -> Any:
        """`origin` without its last entry, as a numpy array: each step's matches are mapped at
        once (`rewritten`), where carrying a list through them cost 1 ms on a 5 KB text."""
        import numpy as np

        if self.source.isascii():
            text, origin = self.source, np.arange(len(self.source), dtype=np.int64)
        else:
            text, listed = _folded(self.source, with_origin=True)
            origin = np.array(listed, dtype=np.int64)
        origin = rewritten(origin, HYPHEN_BREAK, text, 0)
        text = HYPHEN_BREAK.sub(_no_break, text)
        origin = rewritten(origin, SPACE, text, 1)  # _one_space: one character for each run
        text = _spaces(text)
        if text != self.text:  # the same steps as normalise(): never expected
            raise RuntimeError("the normalised text and its offsets disagree")
        return origin

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source offsets [start, end) that normalised [start, end) came from."""
        return span_in_source(self.origin, start, end)

    def source_of(self) -> Callable[[int], int]:
        """A position in `text` (or len(text)) -> `origin` there, for a few positions: each
        step's matches found again, no character mapped but those asked for."""
        source = self.source
        if source.isascii():
            folded, at = source, None
        else:
            folded, at = _folded(source, with_origin=True)
        back_hyphen = stepped_back(HYPHEN_BREAK, folded, 0)
        back_space = stepped_back(SPACE, HYPHEN_BREAK.sub(_no_break, folded), 1)
        size = len(self.text)

        def origin_of(position: int) -> int:
            if position >= size:
                return len(source)
            found = back_hyphen(back_space(position))
            return found if at is None else at[found]

        return origin_of

    def source_text(self, start: int, end: int) -> str:
        a, b = self.source_span(start, end)
        return self.source[a:b]


def span_in_source(origin: tuple[int, ...], start: int, end: int) -> tuple[int, int]:
    """Source offsets of [start, end) of a derived text whose characters came from `origin`."""
    if end <= start:
        return origin[start], origin[start]
    return origin[start], origin[end - 1] + 1


def rewritten(origin: Any, pattern: re.Pattern[str], text: str, length: int) -> Any:
    """The origin (numpy) of `text` with each match of `pattern` (never empty) replaced by
    `length` characters: what `rewrite` gives, each match's characters taking the origin of its
    first, every other character its own."""
    import numpy as np

    spans = [match.span() for match in pattern.finditer(text)]
    if not spans:
        return origin
    starts, ends = np.array(spans, dtype=np.int64).T
    size = len(origin)
    inside = np.cumsum(np.bincount(starts, minlength=size + 1) - np.bincount(ends, minlength=size + 1))[:size] > 0
    counts = np.ones(size, dtype=np.int64)
    counts[inside] = 0
    counts[starts] = length
    return np.repeat(origin, counts)


def stepped_back(pattern: re.Pattern[str], text: str, length: int) -> Callable[[int], int]:
    """For `text` with each match of `pattern` (never empty) replaced by `length` characters: a
    position in the result -> the position in `text` whose origin it takes (as `rewrite` maps
    them: a replacement's characters take its match's first), for a few positions without
    mapping every character (issue 18)."""
    matches = pattern.finditer(text)  # read only as far as the positions asked for (issue 18)
    spans: list[tuple[int, int]] = []
    starts: list[int] = []  # where each replacement begins in the result
    shifts: list[int] = []  # position in text - position in the result, after each match

    def back(position: int) -> int:
        while not starts or starts[-1] <= position:  # every replacement that begins up to `position`
            match = next(matches, None)
            if match is None:
                break
            start, end = match.span()
            spans.append((start, end))
            starts.append(start - (shifts[-1] if shifts else 0))
            shifts.append((shifts[-1] if shifts else 0) + end - start - length)
        n = bisect_right(starts, position) - 1
        if n < 0:
            return position
        if position < starts[n] + length:
            return spans[n][0]
        return position + shifts[n]

    return back


def _no_break(match: re.Match[str]) -> str:
    return ""


def _one_space(match: re.Match[str]) -> str:
    return "\n" if match.group(0).count("\n") >= 2 else " "


def _folded(source: str, *, with_origin: bool) -> tuple[str, list[int]]:
    """Unicode folded (NFKC, typographic punctuation to ASCII), with each character's source
    offset when asked."""
    if source.isascii():  # most mail: nothing to fold, one character per character
        return source, list(range(len(source))) if with_origin else []
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(source):
        out = ch if ch.isascii() else unicodedata.normalize("NFKC", ch).translate(PUNCTUATION)
        chars.append(out)
        if with_origin:
            origin.extend([index] * len(out))
    return "".join(chars), origin


def normalise(source: str) -> Normalised:
    text, _ = _folded(source, with_origin=False)
    text = HYPHEN_BREAK.sub(_no_break, text)
    text = _spaces(text)
    return Normalised(source, text, _lower(text))


def _spaces(text: str) -> str:
    """`SPACE.sub(_one_space, text)`: each run of white space other than a lone space becomes a
    paragraph break when it holds two line breaks, else one space; without a Python call per
    run (a wrapped letter has one per line). The text is cut at the runs with two line breaks
    (PARAGRAPH finds one in each), their white space dropped, and the pieces joined by "\n"."""
    parts = PARAGRAPH.split(text)
    if len(parts) == 1:
        return _one_spaced(text)
    last = len(parts) - 1
    kept = []
    for n, part in enumerate(parts):
        if n > 0:
            part = part.lstrip()  # str.strip's white space is the regex engine's \s
        if n < last:
            part = part.rstrip()
        if part:
            kept.append(_one_spaced(part))
    if not kept:
        return "\n"
    lead = "\n" if not parts[0].rstrip() else ""
    trail = "\n" if not parts[last].lstrip() else ""
    return lead + "\n".join(kept) + trail


def _one_spaced(text: str) -> str:
    """`SPACE.sub(" ", text)`: every run of white space one space (str.split's white space is the
    regex engine's \\s)."""
    words = text.split()
    if not words:
        return " " if text else ""
    return (" " if text[0].isspace() else "") + " ".join(words) + (" " if text[-1].isspace() else "")


def rewrite(text: str, origin: list[int], pattern: re.Pattern[str], replace) -> tuple[str, list[int]]:
    """Replace each match of `pattern`, keeping the origin of every surviving character."""
    matches = pattern.finditer(text)
    first = next(matches, None)
    if first is None:  # most texts have no hyphen break, no apostrophe: nothing to copy
        return text, origin
    out: list[str] = []
    out_origin: list[int] = []
    last = 0
    for match in itertools.chain((first,), matches):
        out.append(text[last : match.start()])
        out_origin.extend(origin[last : match.start()])
        new = replace(match)
        out.append(new)
        out_origin.extend([origin[match.start()]] * len(new))
        last = match.end()
    out.append(text[last:])
    out_origin.extend(origin[last:])
    return "".join(out), out_origin


def _lower(text: str) -> str:
    """Lower case (length kept) with OCR confusions mended inside words. Only words holding a
    digit or symbol OCR confuses with a letter can need mending, so only those are looked at
    (a 5 KB letter has a few dozen of its thousand words)."""
    lowered = text.lower() if text.isascii() else _lower_keeping_length(text)
    pieces: list[str] = []
    done = read = 0  # lowered[:done] is in pieces; words before `read` are looked at
    match = CONFUSABLE.search(lowered)
    while match is not None:  # each word holding a confusable character (whole words, as split)
        at = match.start()
        space = LAST_SPACE.match(lowered, read, at)
        start = space.end() if space is not None else read
        end = NON_SPACE.match(lowered, at).end()  # type: ignore[union-attr]  # \S* always matches
        word = lowered[start:end]
        if len(word) <= 64 and MENDABLE.search(word) and not _looks_like_reference(word):
            pieces += [lowered[done:start], word.translate(IN_WORD)]
            done = end
        read = end
        match = CONFUSABLE.search(lowered, end)
    if pieces:
        lowered = "".join(pieces) + lowered[done:]
    # A capital I inside a lower-case word is an l ("chiId", "wiIl"); at the start it is a word.
    capitals = [match.start() for match in CAPITAL_I_IN_WORD.finditer(text)]
    if capitals:
        chars = list(lowered)
        for at in capitals:
            chars[at] = "l"
        lowered = "".join(chars)
    return lowered


def _lower_keeping_length(text: str) -> str:
    """Lower case, except characters whose lower case is longer ("İ"): offsets stay valid."""
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in text)


REFERENCE = re.compile(
    r"\d+(st|nd|rd|th|am|pm|s|k|m|km|kg|cm|mm|ml|hrs?|yo|yrs?|wks?|x)|[a-z]{0,3}\d{3,}[a-z]?|.*\d[./:-]\d.*"
)


def _looks_like_reference(word: str) -> bool:
    """Keep references as they are: "3rd", "10am", "2x", codes such as "q1234" or "403992117d",
    dates and amounts; mend the rest ("ki11", "t0", "a1l", "sch0ol")."""
    core = word.strip(".,;:!?()'\"")
    digits = sum(c.isdigit() for c in core)
    return digits > sum(c.isalpha() for c in core) or bool(REFERENCE.fullmatch(core))
