"""The at-risk language filter (SPEC 5): suicide and self-harm, threats, family violence.

The lexicon is data (`data/at_risk.yaml`, versioned). Each phrase is compiled into a regular
expression that tolerates case, OCR confusions (0/o, 1/l/i, 5/s, rn/m ...), stray spaces
inside words and punctuation between them, and is matched on the original text so offsets
point into exactly the text the filter read. Missing a real at-risk item is far worse than a
false alarm, so the lexicon errs towards alarming.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

# OCR and typing confusions, per letter of a phrase.
CONFUSIONS = {
    "a": "[a4@]",
    "b": "[b8]",
    "e": "[e3]",
    "g": "[g9]",
    "i": "[i1l!|]",
    "l": "[l1i|]",
    "o": "[o0]",
    "s": "[s5$]",
    "t": "[t7+]",
    "z": "[z2]",
    "m": "(?:m|rn)",
    "'": "['’`]?",
}
WORD_GAP = r"[\W_]{0,6}"
INNER_GAP = r"\s?"  # OCR splits words: "mys elf"


@dataclass(frozen=True)
class Match:
    category: str
    phrase: str  # the text matched, as it appears
    offset: int


# Length-preserving OCR clean-ups the hand-written patterns are also run against.
OCR_READINGS = (str.maketrans("01345$@|7", "oleasaslt"), str.maketrans("01345$@|7", "oieasaslt"))


@dataclass(frozen=True)
class Lexicon:
    version: int
    phrases: tuple[tuple[str, re.Pattern[str]], ...]  # (category, compiled), already OCR-tolerant
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()  # also run on OCR readings of the text


def _letter(ch: str) -> str:
    return CONFUSIONS.get(ch, re.escape(ch))


def phrase_pattern(phrase: str) -> str:
    """`kill myself` -> a tolerant regex; a trailing `*` leaves the ending open."""
    stem = phrase.endswith("*")
    words = phrase.rstrip("*").lower().split()
    body = WORD_GAP.join(INNER_GAP.join(_letter(ch) for ch in word) for word in words)
    return r"(?<![a-z0-9])" + body + ("" if stem else r"(?![a-z0-9])")


def compile_lexicon(data: dict[str, Any]) -> Lexicon:
    phrases: list[tuple[str, re.Pattern[str]]] = []
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for category, entries in data["categories"].items():
        for phrase in entries.get("phrases", []):
            phrases.append((category, re.compile(phrase_pattern(phrase), re.IGNORECASE)))
        for pattern in entries.get("patterns", []):
            patterns.append(
                (category, re.compile(pattern.replace("{W}", WORD_GAP + r"\s*"), re.IGNORECASE | re.DOTALL))
            )
    return Lexicon(int(data.get("version", 1)), tuple(phrases), tuple(patterns))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    text = resources.files("mailintake_classifier.data").joinpath("at_risk.yaml").read_text(encoding="utf-8")
    return compile_lexicon(yaml.safe_load(text))


def find_at_risk(text: str, lexicon: Lexicon | None = None) -> list[Match]:
    """Every at-risk match in `text`, in order of offset, overlapping matches of one category merged."""
    lexicon = lexicon or default_lexicon()
    found: list[Match] = []
    readings = [text] + [text.translate(table) for table in OCR_READINGS]
    for category, pattern in lexicon.phrases:
        found.extend(_hits(category, pattern, text, text))
    for category, pattern in lexicon.patterns:
        for reading in readings:
            found.extend(_hits(category, pattern, reading, text))
    found.sort(key=lambda m: (m.offset, -len(m.phrase)))
    merged: list[Match] = []
    for match in found:
        if any(m.category == match.category and m.offset <= match.offset < m.offset + len(m.phrase) for m in merged):
            continue
        merged.append(match)
    return merged


def _hits(category: str, pattern: re.Pattern[str], reading: str, original: str) -> list[Match]:
    """Matches found in `reading` (same length as `original`), reported as `original`'s text."""
    return [
        Match(category, original[hit.start() : hit.end()][:200], hit.start())
        for hit in pattern.finditer(reading)
        if hit.group(0).strip()
    ]
