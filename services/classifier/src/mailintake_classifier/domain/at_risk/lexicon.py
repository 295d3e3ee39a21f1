"""The precise layer: lexicon phrases in one Aho-Corasick pass, constructions in one pattern
(tried only where one of them can begin: needles.py).

Phrases (data/at_risk.yaml) are looked up on the skeleton of the words reading (i and l merged,
apostrophes dropped, OCR digits mended), so "ki11 myse1f", "KILL\\nMYSELF" and "kill-myself" are
one phrase. A trailing `*` leaves the ending open. Constructions are regular expressions over
the words reading ({W} is a gap of up to three words inside one sentence). Guards are idioms
and legal words ("this debt is killing me", "could murder a coffee", "executed the agreement"):
a hit inside a guard's span is dropped. Mentions are sentences that talk *about* a risk rather
than report one (research, news, policy, brochures, a past event now resolved, a negation just
before the hit): a hit in such a sentence is `weak`, and the detector keeps it only when the
model agrees (see __init__.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import ahocorasick

from mailintake_classifier.domain.at_risk.words import Words, read_words
from mailintake_classifier.domain.needles import Places, finditer, needles
from mailintake_classifier.domain.normalise import SKELETON

GAP = r"(?: [a-z0-9]+){0,3}"
LAYERS = {"lexicon": 0, "construction": 1}  # the order of hits at the same span


@dataclass(frozen=True)
class Hit:
    category: str
    start: int  # into Words.text
    end: int
    layer: str  # lexicon | construction
    weak: bool = False  # in a mention: kept only when the model agrees


@dataclass(frozen=True)
class Lexicon:
    version: int
    automaton: Any  # ahocorasick.Automaton: skeleton key -> [(category, open_ending, key length)]
    constructions: re.Pattern[str] | None
    construction_categories: dict[str, str]  # group name -> category
    guards: re.Pattern[str] | None
    mentions: re.Pattern[str] | None = None  # searched in the hit's sentence
    negations: re.Pattern[str] | None = None  # matched against the words just before the hit
    construction_places: Places | None = None  # where a construction can begin (needles.py)
    # The automaton also holds each construction needle's skeleton, as (None, False, length): its
    # one pass over the skeleton finds where a construction can begin too (issue 18, session 13).
    starts_in_automaton: bool = False


def _key(phrase: str) -> str:
    return read_words(phrase.rstrip("*")).text.strip().translate(SKELETON)


def compile_lexicon(data: dict[str, Any]) -> Lexicon:
    automaton = ahocorasick.Automaton()
    groups: list[str] = []
    categories: dict[str, str] = {}
    starts: set[str] | None = set()
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
            if not pattern.startswith(" "):
                raise ValueError(f"construction {name} must begin at a word: with a space")
            # The shared leading space is one literal before the alternation, so the regex engine
            # skips every position that is not a word start (a third of the cost without it).
            groups.append(f"(?P<{name}>{pattern[1:].replace('{W}', GAP)})")
            found = needles(re.compile(pattern.replace("{W}", GAP)), fold=False)
            starts = None if starts is None or found is None else starts | set(found)
    for start in starts or ():  # a needle at a place in the text is its skeleton there in the skeleton
        key = start.translate(SKELETON)
        found = automaton.get(key, [])
        if (None, False, len(key)) not in found:
            automaton.add_word(key, [*found, (None, False, len(key))])
    automaton.make_automaton()
    guards = data.get("guards", [])
    mentions = data.get("mentions", [])
    negations = data.get("negations", [])
    return Lexicon(
        int(data.get("version", 1)),
        automaton,
        re.compile(" (?:" + "|".join(groups) + ")") if groups else None,
        categories,
        _alternatives(guards),
        _alternatives(mentions),
        re.compile(f" (?:{'|'.join(map(str, negations))})(?: [a-z0-9]+){{0,2}} $") if negations else None,
        Places(tuple(sorted(starts))) if starts else None,
        bool(starts),
    )


def _alternatives(patterns: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p.replace('{W}', GAP)})" for p in patterns)) if patterns else None


def lexicon_hits(words: Words, lexicon: Lexicon) -> list[Hit]:
    """Every phrase and construction hit outside a guard, in order of position."""
    hits: list[Hit] = []
    text = words.skeleton
    starts: set[int] = set()  # where a construction can begin (a superset: i and l are one here)
    if len(lexicon.automaton):
        for end, found in lexicon.automaton.iter(text):
            for category, open_ending, length in found:
                start = end - length + 1
                if category is None:
                    starts.add(start)
                    continue
                whole_start = text[start - 1 : start] in (" ", "")
                whole_end = open_ending or text[end + 1 : end + 2] in (" ", "")
                if not (whole_start and whole_end):
                    continue
                hits.append(Hit(category, start, end + 1, "lexicon"))
    if lexicon.constructions is not None:
        places = (lambda _: sorted(starts)) if lexicon.starts_in_automaton else lexicon.construction_places
        for match in finditer(lexicon.constructions, places, words.text):
            start = match.start() + (words.text[match.start()] == " ")  # constructions begin at a word's space
            hits.append(Hit(lexicon.construction_categories[match.lastgroup or ""], start, match.end(), "construction"))
    if lexicon.guards is not None and hits:  # a guard only ever drops hits
        guarded = [m.span() for m in lexicon.guards.finditer(words.text)]
        hits = [h for h in hits if not any(a < h.end and h.start < b for a, b in guarded)]
    # A phrase and a construction can find the same span: the phrase is named first, so which
    # layer a match reports does not depend on the process's string hashing (set order).
    return sorted(
        {_weighed(words, lexicon, h) for h in hits}, key=lambda h: (h.start, h.end, LAYERS[h.layer], h.category)
    )


def _weighed(words: Words, lexicon: Lexicon, hit: Hit) -> Hit:
    """The hit, marked weak when its sentence is a mention or a negation just precedes it."""
    start, end = words.sentence_around(hit.start, hit.end)
    sentence = words.text[max(start - 1, 0) : end + 1]
    before = words.text[max(start - 1, hit.start - 40, 0) : hit.start]
    weak = bool(lexicon.mentions and lexicon.mentions.search(sentence)) or bool(
        lexicon.negations and lexicon.negations.search(before)
    )
    return Hit(hit.category, hit.start, hit.end, hit.layer, weak) if weak else hit
