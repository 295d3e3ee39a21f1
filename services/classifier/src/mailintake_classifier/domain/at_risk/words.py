"""The at-risk detector's reading of a text: words and sentence marks, mapped back to the source.

Built on the shared normalisation (domain/normalise.py): lower case with OCR confusions mended,
lines unwrapped. Apostrophes are dropped (OCR loses them: "cant", "dont"), every other run of
punctuation and space is one space, and a sentence end (. ! ? ; or a paragraph) is " . ", so
phrases match across "kill-myself" or "kill\\nmyself" but constructions do not run across
sentences. `skeleton` merges i and l for phrase look-ups.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mailintake_classifier.domain.normalise import Normalised, normalise, rewritten, stepped_back

APOSTROPHE = re.compile(r"'")
# Each pattern opens with the character (class) every match begins with, then checks what
# came before with a lookbehind: the regex engine then jumps to the next such character instead
# of trying the pattern at every position (issue 18; the same matches as the plainer forms in
# the comments, tested).
# (?:[.!?;]+(?=\s|$)|\n)+
SENTENCE_END = re.compile(r"[.!?;\n](?:(?<=\n)|[.!?;]*(?=\s|$))(?:[.!?;]+(?=\s|$)|\n)*")
# Runs of anything but letters, digits and marks become one space; a lone space already is one,
# so it is not matched (most of the text's runs: rewriting them cost half the reading).
# (?: ?[^a-z0-9.\x00 ]|  )[^a-z0-9.\x00]*|(?<![0-9])\.|\.(?![0-9])
OTHER = re.compile(
    r"[^a-z0-9\x00](?:(?<= )[^a-z0-9.\x00][^a-z0-9.\x00]*|(?<=[^a-z0-9.\x00 ])[^a-z0-9.\x00]*"
    r"|(?<=\.)(?:(?<![0-9]\.)|(?![0-9])))"
)
# OTHER's rewrite in two passes whose patterns open with a class holding no space, so the regex
# engine skips a letter's lone spaces (a thousand in a 5 KB letter, each a failed try of OTHER:
# the dearest step of the reading; issue 18, session 12). For a text without two spaces in a row,
# a run OTHER replaces that begins at a space ends where a run after that space ends, so the run
# after the space is dropped (the space stays, the one space OTHER leaves), then every other run
# and lone mark becomes one space: the same text as `OTHER.sub(" ", text)` (tested).
OTHER_AFTER_A_SPACE = re.compile(r"[^a-z0-9.\x00 ](?<= [^a-z0-9.\x00 ])[^a-z0-9.\x00]*")
OTHER_NOT_AFTER_A_SPACE = re.compile(r"[^a-z0-9 \x00](?:(?<=[^.])[^a-z0-9.\x00]*|(?<![0-9]\.)|(?![0-9]))")
MARK = re.compile(r"\x00+")
SPACES = re.compile(r"  +")  # " {2,}"


# The steps from the normalised lower case to the words reading, in order.
STEPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (APOSTROPHE, ""),
    (SENTENCE_END, "\x00"),
    (OTHER, " "),
    (MARK, " . "),
    (SPACES, " "),
)


@dataclass(frozen=True)
class Words:
    normalised: Normalised
    text: str  # " i cant go on . he has a knife . "
    # The text before each of STEPS, as read_words() made it: a reported match's offsets step
    # back through them without running a step again (issue 18). Empty: worked out again.
    steps: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @cached_property
    def skeleton(self) -> str:
        return self.text.replace("i", "l").replace("!", "l")  # text.translate(SKELETON), cheaper

    @cached_property
    def origin(self) -> tuple[int, ...]:
        """The source offset of each character of `text`, worked out only when a match is
        reported (most texts hold none)."""
        return tuple(self.origins.tolist())

    @cached_property
    def origins(self) -> Any:
        """`origin` as a numpy array, each step's matches mapped at once (normalise.rewritten)."""
        import numpy as np

        source = self.normalised.source
        text, origin = self.normalised.lower, self.normalised.origins
        for pattern, replacement in STEPS:
            origin = rewritten(origin, pattern, text, len(replacement))
            text = pattern.sub(replacement, text)
        if f" {text} " != self.text:  # the same steps as read_words(): never expected
            raise RuntimeError("the words reading and its offsets disagree")
        first = origin[:1] if len(origin) else np.zeros(1, dtype=np.int64)
        return np.concatenate([first, origin, np.array([len(source), len(source)], dtype=np.int64)])

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """span_in_source(self.origin, start, end), from the two positions alone (each step's
        matches found again, no character mapped but those two)."""
        origin_of = self._origin_of
        first = origin_of(start)
        if end <= start:
            return first, first
        return first, origin_of(end - 1) + 1

    @cached_property
    def _origin_of(self) -> Callable[[int], int]:
        """A position in `text` -> `origin` there."""
        source_of = self.normalised.source_of()
        kept = self.steps if len(self.steps) == len(STEPS) else None
        text, backs = self.normalised.lower, []
        for n, (pattern, replacement) in enumerate(STEPS):
            text = kept[n] if kept is not None else text
            backs.append(stepped_back(pattern, text, len(replacement)))
            if kept is None:
                text = pattern.sub(replacement, text)
        backs.reverse()
        size = len(self.text) - 2  # `self.text` is " " + the last step's text + " "

        def origin_of(position: int) -> int:
            if position > size:
                return len(self.normalised.source)
            if position == 0 and size == 0:
                return 0
            position = max(position - 1, 0)
            for back in backs:
                position = back(position)
            return source_of(position)

        return origin_of

    def sentence_around(self, start: int, end: int) -> tuple[int, int]:
        """The [start, end) of the sentence (in `text`) holding the span."""
        left = self.text.rfind(" . ", 0, start)
        right = self.text.find(" . ", end)
        return (0 if left < 0 else left + 3), (len(self.text) if right < 0 else right)

    def sentences(self) -> list[tuple[int, int]]:
        spans, position = [], 0
        for piece in self.text.split(" . "):
            if piece.strip():
                spans.append((position, position + len(piece)))
            position += len(piece) + 3
        return spans


def read_words(source: str) -> Words:
    norm = normalise(source)
    text = norm.lower
    steps = []
    for pattern, replacement in STEPS:
        steps.append(text)
        if pattern is MARK and "\x00\x00" not in text:  # each mark alone: the same, cheaper
            text = text.replace("\x00", replacement)
            continue
        if pattern is OTHER and "  " not in text:
            text = other_to_spaces(text)
            continue
        text = pattern.sub(replacement, text)
    return Words(norm, f" {text} ", tuple(steps))


def other_to_spaces(text: str) -> str:
    """`OTHER.sub(" ", text)` for a text without two spaces in a row, in two cheaper passes."""
    return OTHER_NOT_AFTER_A_SPACE.sub(" ", OTHER_AFTER_A_SPACE.sub("", text))
