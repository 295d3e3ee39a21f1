"""The at-risk detector's reading of a text: words and sentence marks, mapped back to the source.

Built on the shared normalisation (domain/normalise.py): lower case with OCR confusions mended,
lines unwrapped. Apostrophes are dropped (OCR loses them: "cant", "dont"), every other run of
punctuation and space is one space, and a sentence end (. ! ? ; or a paragraph) is " . ", so
phrases match across "kill-myself" or "kill\\nmyself" but constructions do not run across
sentences. `skeleton` merges i and l for phrase look-ups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailintake_classifier.domain.normalise import SKELETON, Normalised, normalise, rewrite, span_in_source

APOSTROPHE = re.compile(r"'")
SENTENCE_END = re.compile(r"(?:[.!?;]+(?=\s|$)|\n)+")
# Runs of anything but letters, digits and marks become one space; a lone space already is one,
# so it is not matched (most of the text's runs: rewriting them cost half the reading).
OTHER = re.compile(r"(?: ?[^a-z0-9.\x00 ]|  )[^a-z0-9.\x00]*|(?<![0-9])\.|\.(?![0-9])")
MARK = re.compile(r"\x00+")
SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class Words:
    normalised: Normalised
    text: str  # " i cant go on . he has a knife . "
    skeleton: str
    origin: tuple[int, ...]  # source offset of each character of `text`

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        return span_in_source(self.origin, start, end)

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
    origin = list(norm.origin[:-1])
    text, origin = rewrite(norm.lower, origin, APOSTROPHE, lambda m: "")
    text, origin = rewrite(text, origin, SENTENCE_END, lambda m: "\x00")
    text, origin = rewrite(text, origin, OTHER, lambda m: " ")
    text, origin = rewrite(text, origin, MARK, lambda m: " . ")
    text, origin = rewrite(text, origin, SPACES, lambda m: " ")
    text, origin = " " + text + " ", [origin[0] if origin else 0, *origin, len(source)]
    return Words(norm, text, text.translate(SKELETON), (*origin, len(source)))
