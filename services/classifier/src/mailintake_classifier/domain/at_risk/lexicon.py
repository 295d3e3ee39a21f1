"""The precise layer: lexicon phrases in one Aho-Corasick pass, constructions in one pattern.

Phrases (data/at_risk.yaml) are looked up on the skeleton of the words reading (i and l merged,
apostrophes dropped, OCR digits mended), so "ki11 myse1f", "KILL\\nMYSELF" and "kill-myself" are
one phrase. A trailing `*` leaves the ending open. Constructions are regular expressions over
the words reading ({W} is a gap of up to three words inside one sentence). Guards are idioms
and legal words ("this debt is killing me", "could murder a coffee", "executed the agreement"):
a hit inside a guard's span is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import ahocorasick

from mailintake_classifier.domain.at_risk.words import Words, read_words
from mailintake_classifier.domain.normalise import SKELETON

GAP = r"(?: [a-z0-9]+){0,3}"


@dataclass(frozen=True)
class Hit:
    category: str
    start: int  # into Words.text
    end: int
    layer: str  # lexicon | construction


@dataclass(frozen=True)
class Lexicon:
    version: int
    automaton: Any  # ahocorasick.Automaton: skeleton key -> [(category, open_ending, key length)]
    constructions: re.Pattern[str] | None
    construction_categories: dict[str, str]  # group name -> category
    guards: re.Pattern[str] | None


def _key(phrase: str) -> str:
    return read_words(phrase.rstrip("*")).text.strip().translate(SKELETON)


def compile_lexicon(data: dict[str, Any]) -> Lexicon:
    automaton = ahocorasick.Automaton()
    groups: list[str] = []
    categories: dict[str, str] = {}
    for category, entries in data["categories"].items():
        for phrase in entries.get("phrases", []):
            for variant in {_key(phrase), _key(phrase).replace("m", "rn")}:
                if not variant:
                    continue
                found = automaton.get(variant, [])
                found.append((category, phrase.endswith("*"), len(variant)))
                automaton.add_word(variant, found)
        for number, pattern in enumerate(entries.get("constructions", [])):
            name = f"c_{len(categories)}_{number}"
            categories[name] = category
            groups.append(f"(?P<{name}>{pattern.replace('{W}', GAP)})")
    automaton.make_automaton()
    guards = data.get("guards", [])
    return Lexicon(
        int(data.get("version", 1)),
        automaton,
        re.compile("|".join(groups)) if groups else None,
        categories,
        re.compile("|".join(f"(?:{g.replace('{W}', GAP)})" for g in guards)) if guards else None,
    )


def lexicon_hits(words: Words, lexicon: Lexicon) -> list[Hit]:
    """Every phrase and construction hit outside a guard, in order of position."""
    hits: list[Hit] = []
    text = words.skeleton
    if len(lexicon.automaton):
        for end, found in lexicon.automaton.iter(text):
            for category, open_ending, length in found:
                start = end - length + 1
                whole_start = text[start - 1 : start] in (" ", "")
                whole_end = open_ending or text[end + 1 : end + 2] in (" ", "")
                if not (whole_start and whole_end):
                    continue
                hits.append(Hit(category, start, end + 1, "lexicon"))
    if lexicon.constructions is not None:
        for match in lexicon.constructions.finditer(words.text):
            start = match.start() + (words.text[match.start()] == " ")  # constructions begin at a word's space
            hits.append(Hit(lexicon.construction_categories[match.lastgroup or ""], start, match.end(), "construction"))
    if lexicon.guards is not None:
        guarded = [m.span() for m in lexicon.guards.finditer(words.text)]
        hits = [h for h in hits if not any(a < h.end and h.start < b for a, b in guarded)]
    return sorted(set(hits), key=lambda h: (h.start, h.end))
