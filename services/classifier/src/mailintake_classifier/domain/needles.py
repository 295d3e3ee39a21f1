"""Skipping a regular expression that cannot match: the literals one of which any match contains.

The type and audience cues are a hundred-odd patterns searched over every item; most cannot match
most texts. `needles` reads a pattern's parse tree for the literal text every match begins with
(after word boundaries, lookarounds and the like; with and without an optional "x?"), one string
per alternative, and a `Cue`
is searched only when one of them occurs in the lower-cased text: a substring test is a small
fraction of a regex scan. A pattern whose start is not literal (a character class, a repeat)
has no needles and is always searched. Only ASCII texts are screened this way, so case folding
can never make a needle miss what the pattern would find.

Since every match begins where a needle occurs, a pattern with needles is not scanned over the
whole text either (case-insensitive patterns get no literal-prefix speed-up from the regex
engine, and a common needle such as "find" or "new" lets most of them through): it is tried
anchored at each occurrence of a needle (`pattern.match(text, at)`, which still sees the text
before `at` for word boundaries, lookbehinds and `^`). It finds a match exactly when a search
would, with a small part of the work (issue 18).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass

# The standard library's own pattern parser (what re.compile uses; private, stable since 3.11).
from re import _constants as constants  # type: ignore[attr-defined]
from re import _parser as parser  # type: ignore[attr-defined]

MIN_NEEDLE = 3  # shorter literals occur in nearly every text: not worth a test
MAX_AUTOMATA = 16  # automata a CueIndex remembers its always-asked patterns for
MAX_NEEDLES = 128  # a hundred substring tests still cost a fraction of one case-insensitive scan
ZERO_WIDTH = {constants.AT, constants.ASSERT, constants.ASSERT_NOT}
OPTIONAL = {constants.MAX_REPEAT, constants.MIN_REPEAT}


def needles(pattern: re.Pattern[str], *, fold: bool = True) -> tuple[str, ...] | None:
    """Lower-case literals one of which every match of `pattern` begins with, or None if unknown.
    With `fold=False` the literals are as the pattern has them (for a case-sensitive pattern)."""
    try:
        tree = parser.parse(pattern.pattern, pattern.flags)
    except re.error:  # pragma: no cover - the pattern compiled, so it parses
        return None
    found, _ = _starts(list(tree))
    if not found or any(len(n) < MIN_NEEDLE or not n.isascii() for n in found):
        return None
    lowered = {n.lower() for n in found} if fold else set(found)
    # A needle that begins with another adds no place to try ("attached" where "attach" is one).
    return tuple(sorted(n for n in lowered if not any(n != m and n.startswith(m) for m in lowered)))


def _starts(items: list[tuple[object, object]]) -> tuple[set[str], bool]:
    """(literal starts of the sequence, whether the sequence is wholly literal)."""
    starts = {""}
    for op, value in items:
        if op in ZERO_WIDTH:
            continue
        if op is constants.LITERAL:
            starts = {s + chr(value) for s in starts}  # type: ignore[arg-type]
            continue
        if op is constants.SUBPATTERN:
            inner, whole = _starts(list(value[-1]))  # type: ignore[index]
        elif op is constants.BRANCH:
            inner, whole = set(), True
            for branch in value[1]:  # type: ignore[index]
                branch_starts, branch_whole = _starts(list(branch))
                inner |= branch_starts
                whole = whole and branch_whole
        elif op in OPTIONAL and value[:2] == (0, 1):  # type: ignore[index]
            # "x?" or "(name of )?": with or without it, when it is wholly literal
            inner, whole = _starts(list(value[2]))  # type: ignore[index]
            if not whole:
                return starts, False
            inner |= {""}
        else:
            return starts, False
        if len(starts) * len(inner) > MAX_NEEDLES:  # too many combinations to be worth it
            return starts, False
        starts = {s + i for s in starts for i in inner}
        if not whole:
            return starts, False
    return starts, True


def may_match(found: tuple[str, ...] | None, lowered: str | None) -> bool:
    """False only when the text is known to hold none of the needles (so the pattern cannot match).
    `lowered` is text.lower() for an ASCII text, else None (then every pattern is searched)."""
    return lowered is None or found is None or any(n in lowered for n in found)


def search(pattern: re.Pattern[str], found: tuple[str, ...] | None, text: str, lowered: str | None) -> bool:
    """Whether `pattern` matches anywhere in `text` (as `pattern.search(text)`), trying it only
    where one of its needles `found` occurs in `lowered` (text.lower() of an ASCII text, else None:
    then the whole text is searched)."""
    if lowered is None or found is None:
        return pattern.search(text) is not None
    for needle in found:
        at = lowered.find(needle)
        while at >= 0:
            if pattern.match(text, at) is not None:
                return True
            at = lowered.find(needle, at + 1)
    return False


class Places:
    """Where any of some literals begins in a text, case-sensitively: one Aho-Corasick pass."""

    def __init__(self, literals: tuple[str, ...]) -> None:
        import ahocorasick

        self.automaton = ahocorasick.Automaton()
        for literal in literals:
            self.automaton.add_word(literal, len(literal))
        self.automaton.make_automaton()

    def __call__(self, text: str) -> list[int]:
        return sorted({end - length + 1 for end, length in self.automaton.iter(text)})


def finditer(
    pattern: re.Pattern[str], places: Callable[[str], list[int]] | None, text: str, where: str | None = None
) -> Iterator[re.Match[str]]:
    """What `pattern.finditer(text)` yields (the same matches, in order) for a pattern that never
    matches empty, trying it only at the `places` where one of its needles begins: its exact
    needles (`needles(pattern, fold=False)`) in `text`, or its lower-case needles in `where`, the
    lower case of an ASCII text (`FoldedFinder`). The leftmost match is at the first such place
    where it matches, and the next is looked for from that match's end."""
    if places is None:
        yield from pattern.finditer(text)
        return
    end = 0
    for at in places(text if where is None else where):
        if at < end:
            continue
        match = pattern.match(text, at)
        if match is not None:
            yield match
            end = max(match.end(), at + 1)


class NeedleAutomaton:
    """Many patterns' lower-case needles in one Aho-Corasick automaton, so that where each of
    them occurs in a text is found in one pass (`TextNeedles`) instead of a `find` loop per
    needle per pattern (issue 18: the type and audience cues tried about 500 finds a letter)."""

    def __init__(self, found: Iterable[str]) -> None:
        import ahocorasick

        self.needles = frozenset(found)
        self.crossing = any("\n" in needle for needle in self.needles)  # could span two joined lines
        self.automaton = ahocorasick.Automaton()
        for needle in self.needles:
            self.automaton.add_word(needle, needle)
        if self.needles:
            self.automaton.make_automaton()


class TextNeedles:
    """One text, its lower case (ASCII texts only, as `search` reads them) and where needles
    begin in it: every needle of `automaton` from one pass, any other looked up with `find` when
    first asked. Patterns searched through it answer exactly as `search` and `finditer` do."""

    def __init__(self, text: str, automaton: NeedleAutomaton | None = None) -> None:
        self.text = text
        self.lowered = lowered_if_ascii(text)
        self._places: dict[str, list[int]] = {}
        self._known: frozenset[str] = frozenset()
        if self.lowered is not None and automaton is not None and automaton.needles:
            self._known = automaton.needles
            for end, needle in automaton.automaton.iter(self.lowered):
                self._places.setdefault(needle, []).append(end - len(needle) + 1)

    def joined(self, more: str, automaton: NeedleAutomaton) -> TextNeedles:
        """`TextNeedles(self.text + "\n" + more, automaton)`, passing over `more` alone when this
        text was read with the same automaton and none of its needles holds a line break (then
        none begins in one text and ends in the other, and the places in this text stay)."""
        text = f"{self.text}\n{more}"
        if self.lowered is None or not more.isascii() or self._known is not automaton.needles or automaton.crossing:
            return TextNeedles(text, automaton)
        shift = len(self.text) + 1
        joined = TextNeedles(text)  # the text and its lower case; its places are this text's and more's
        joined._known = self._known
        joined._places = {needle: list(at) for needle, at in self._places.items() if needle in self._known}
        for end, needle in automaton.automaton.iter(more.lower()):
            joined._places.setdefault(needle, []).append(shift + end - len(needle) + 1)
        return joined

    def places(self, needle: str) -> list[int]:
        """Every offset where `needle` begins in the lower case, ascending (overlaps too)."""
        found = self._places.get(needle)
        if found is not None:
            return found
        if needle in self._known or self.lowered is None:  # the pass found it nowhere (kept so: `search`)
            return []
        found = []
        at = self.lowered.find(needle)
        while at >= 0:
            found.append(at)
            at = self.lowered.find(needle, at + 1)
        self._places[needle] = found
        return found

    def search(self, pattern: re.Pattern[str], found: tuple[str, ...] | None) -> bool:
        """`search(pattern, found, text, lowered)`: whether `pattern` matches in the text."""
        if self.lowered is None or found is None:
            return pattern.search(self.text) is not None
        if self._places.keys().isdisjoint(found) and self._known.issuperset(found):
            return False  # the one pass looked for every needle and found none (most cues, most texts)
        text = self.text
        return any(pattern.match(text, at) is not None for needle in found for at in self.places(needle))

    def finditer(self, pattern: re.Pattern[str], found: tuple[str, ...] | None) -> Iterator[re.Match[str]]:
        """`pattern.finditer(text)` for a pattern that never matches empty, whose every match
        begins with one of the lower-case needles `found` (as `FoldedFinder.finditer`)."""
        if self.lowered is None or not found:
            return pattern.finditer(self.text)
        if len(found) == 1:
            starts = self.places(found[0])
        else:
            starts = sorted({at for needle in found for at in self.places(needle)})
        return finditer(pattern, lambda _: starts, self.text)


class CueIndex:
    """An ordered list of patterns' needles, and which of them a text read through `TextNeedles`
    must still be asked about: a pattern none of whose needles the text's one pass found, all of
    them the automaton's, cannot match (`TextNeedles.search` answers False), so it is not asked.
    Asking each of a letter's 79 type cues in turn cost a call and two set operations a cue,
    and five of them had a needle to try (issue 18, session 12)."""

    def __init__(self, needles: Sequence[tuple[str, ...] | None]) -> None:
        self.needles = tuple(needles)
        self.by_needle: dict[str, list[int]] = {}
        for at, found in enumerate(self.needles):
            for needle in found or ():
                self.by_needle.setdefault(needle, []).append(at)
        self._always: dict[frozenset[str], frozenset[int]] = {}  # an automaton's needles -> patterns always asked

    def to_ask(self, text: TextNeedles) -> Container[int]:
        """The positions of the patterns `text.search` may answer True for (a superset): every
        one when the text was read without an automaton or is not ASCII."""
        known = text._known
        if text.lowered is None or not known:
            return range(len(self.needles))
        always = self._always.get(known)
        if always is None:  # no needles, or some the automaton lacks: asked (looked up with find)
            if len(self._always) >= MAX_AUTOMATA:
                self._always.clear()
            always = frozenset(at for at, found in enumerate(self.needles) if not found or not known.issuperset(found))
            self._always[known] = always
        ask = set(always)
        for needle in text._places:  # every needle the pass found (and any looked up since)
            ask.update(self.by_needle.get(needle, ()))
        return ask


def lowered_if_ascii(text: str) -> str | None:
    return text.lower() if text.isascii() else None


@dataclass(frozen=True)
class Screened:
    """A compiled pattern with its needles."""

    pattern: re.Pattern[str]
    needles: tuple[str, ...] | None

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> Screened:
        return cls(pattern, needles(pattern))

    def search(self, text: str, lowered: str | None) -> bool:
        return search(self.pattern, self.needles, text, lowered)

    def found_in(self, text: TextNeedles) -> bool:
        return text.search(self.pattern, self.needles)


@dataclass(frozen=True)
class FoldedFinder:
    """A pattern whose matches are wanted (not only whether there is one), tried only where one
    of its lower-case needles begins in an ASCII text's lower case; any other text is scanned."""

    pattern: re.Pattern[str]
    places: Places | None
    needles: tuple[str, ...] | None = None

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> FoldedFinder:
        found = needles(pattern)
        return cls(pattern, Places(found) if found else None, found)

    def finditer_in(self, text: TextNeedles) -> Iterator[re.Match[str]]:
        """`pattern.finditer(text.text)`, through the text's needles."""
        return text.finditer(self.pattern, self.needles if self.places is not None else None)

    def finditer(self, text: str, lowered: str | None) -> Iterator[re.Match[str]]:
        """`pattern.finditer(text)`; `lowered` is text.lower() of an ASCII text, else None."""
        if lowered is None or self.places is None:
            return self.pattern.finditer(text)
        return finditer(self.pattern, self.places, text, lowered)
