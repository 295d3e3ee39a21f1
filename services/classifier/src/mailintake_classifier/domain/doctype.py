"""Document type from the text, with a confidence and the cues that decided it (SPEC 5).

The cues are data (`data/document_types.yaml`, versioned): weighted regular expressions per
routing-matrix type (a negative weight is a cue against the type). A web form's type is a
strong cue of its own. Draft agreements are recognised by the covering letter seeking advice
on registration, not by missing signatures.

Three decisions are kept apart (issue 14):
- Priority (seed 001 lines 9-10, 134) is whether any priority type's cues reach `min_score`,
  whichever type wins: a letter about an assessment that also asks for substituted
  service is both.
- A type whose cues compete with another family's (the runner-up reaches `min_score` and at
  least `abstain_ratio` of the best) or that scores under `min_score` is not given: `document_type`
  is None and the reason says why, so a person types it. Competing forms of one family (a
  court order against a court application) give the family's general type instead.
- A family's general type (a court header on its own) wins only when no specific member of
  the family reaches `min_score`.
- A competition is not abstained when the web form the sender chose names the best type, or
  when the best is a priority type and the rival is not (a court order must reach the court
  team the day it arrives); the reasons name the rival.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from typing import Any

import yaml

from mailintake_classifier.domain.needles import CueIndex, TextNeedles, needles


@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    weight: float
    needles: tuple[str, ...] | None = None  # literals one of which any match holds (needles.py)


def _cue(source: str, weight: float) -> Cue:
    pattern = re.compile(source, re.IGNORECASE | re.MULTILINE)
    return Cue(pattern, weight, needles(pattern))


@dataclass(frozen=True)
class Family:
    """Types that are forms of one kind of document, and the general type for "one of these"."""

    members: frozenset[str]
    general: str


@dataclass(frozen=True)
class TypeCues:
    version: int
    min_score: float
    confidence_k: float
    priority: frozenset[str]
    types: dict[str, tuple[Cue, ...]]
    form_types: dict[str, str]
    form_type_weight: float = 4.0
    abstain_ratio: float = 1.01  # > 1: never abstain
    families: tuple[Family, ...] = field(default_factory=tuple)
    forms: frozenset[str] = frozenset()  # types whose title starts a form on a page (forms.py)
    annexing: frozenset[str] = frozenset()  # types whose later pages are annexures (forms.py)

    @cached_property
    def index(self) -> CueIndex:
        """Every type's cues' needles, in the order `score_types` asks them."""
        return CueIndex([cue.needles for type_cues in self.types.values() for cue in type_cues])

    def family_of(self, name: str) -> Family | None:
        return next((f for f in self.families if name in f.members), None)


@dataclass(frozen=True)
class TypeDecision:
    document_type: str | None
    confidence: float
    reasons: list[str]
    priority: bool


def load_cues(data: dict[str, Any]) -> TypeCues:
    types = {name: tuple(_cue(c["cue"], float(c["weight"])) for c in cues) for name, cues in data["types"].items()}
    families = tuple(
        Family(frozenset(f["members"]) | {f["general"]}, str(f["general"])) for f in data.get("families", {}).values()
    )
    for family in families:
        unknown = family.members - set(types)
        if unknown:
            raise ValueError(f"family names types without cues: {sorted(unknown)}")
    named = {name for names in data.get("forms", {}).values() for name in names}
    if named - set(types):
        raise ValueError(f"forms name types without cues: {sorted(named - set(types))}")
    return TypeCues(
        int(data["version"]),
        float(data["min_score"]),
        float(data["confidence_k"]),
        frozenset(data.get("priority", [])),
        types,
        dict(data.get("form_types", {})),
        float(data.get("form_type_weight", 4.0)),
        float(data.get("abstain_ratio", 1.01)),
        families,
        frozenset(data.get("forms", {}).get("types", [])),
        frozenset(data.get("forms", {}).get("annexing", [])),
    )


@lru_cache(maxsize=1)
def default_cues() -> TypeCues:
    text = resources.files("mailintake_classifier.data").joinpath("document_types.yaml").read_text(encoding="utf-8")
    return load_cues(yaml.safe_load(text))


def score_types(
    text: str, form_type: str | None, cues: TypeCues, found: TextNeedles | None = None
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Each type's score (sum of its matched cues, each counted once) and the cues that matched.
    `found`: the text's needles when the caller has them (the same answers, fewer passes)."""
    scores: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}
    if found is None or found.text != text:
        found = TextNeedles(text)
    to_ask = cues.index.to_ask(found)  # the others cannot match (needles.py CueIndex)
    at = -1
    for name, type_cues in cues.types.items():
        for cue in type_cues:
            at += 1
            if at in to_ask and found.search(cue.pattern, cue.needles):
                scores[name] = scores.get(name, 0.0) + cue.weight
                reasons.setdefault(name, []).append(f"cue '{cue.pattern.pattern}' ({cue.weight:+g})")
    if form_type in cues.form_types:
        named = cues.form_types[form_type]
        scores[named] = scores.get(named, 0.0) + cues.form_type_weight
        reasons.setdefault(named, []).append(f"web form type {form_type} (+{cues.form_type_weight:g})")
    return {name: score for name, score in scores.items() if score > 0}, reasons


def _ranked(scores: dict[str, float], cues: TypeCues) -> list[str]:
    """Best first; a family's general type drops out when a specific member reaches min_score."""
    ranked = sorted(scores, key=lambda name: (scores[name], name == "agreement_draft"), reverse=True)
    general_out = {
        f.general
        for f in cues.families
        if any(scores.get(m, 0.0) >= cues.min_score for m in f.members if m != f.general)
    }
    return [name for name in ranked if name not in general_out]


def _priority(scores: dict[str, float], cues: TypeCues) -> list[str]:
    return sorted(name for name in cues.priority if scores.get(name, 0.0) >= cues.min_score)


def needles_of(cues: TypeCues) -> set[str]:
    return {n for type_cues in cues.types.values() for cue in type_cues for n in cue.needles or ()}


def decide_type(
    text: str, form_type: str | None = None, cues: TypeCues | None = None, found: TextNeedles | None = None
) -> TypeDecision:
    cues = cues or default_cues()
    scores, cue_reasons = score_types(text, form_type, cues, found)
    if not scores:
        return TypeDecision(None, 0.0, ["no document-type cue found"], False)
    priority_types = _priority(scores, cues)
    priority_reasons = [f"priority: {name} cues scored {scores[name]:g} (seed 001)" for name in priority_types]
    ranked = _ranked(scores, cues)
    best = ranked[0]
    score = scores[best]
    if score < cues.min_score:
        why = f"best guess {best} scored {score:g}, under {cues.min_score:g}: a person decides the type"
        return TypeDecision(None, 0.0, [why, *priority_reasons], bool(priority_types))
    confidence = round(score / (score + cues.confidence_k), 3)
    contest = max(cues.abstain_ratio * score, cues.min_score)  # a rival under min_score is no rival
    rival = next((r for r in ranked[1:] if scores[r] >= contest), None)
    chosen = cues.form_types.get(form_type or "") == best  # the sender chose this web form
    urgent = best in cues.priority and rival not in cues.priority  # the deadline-bound reading wins
    if rival is not None and not chosen and not urgent:
        family = cues.family_of(best)
        if family is not None and rival in family.members:
            best = family.general
            reason = f"{best}: competing forms {ranked[0]} ({score:g}) and {rival} ({scores[rival]:g}) of one family"
            return TypeDecision(best, confidence, [reason, *priority_reasons], bool(priority_types))
        why = f"undecided: competing cues {best} ({score:g}) and {rival} ({scores[rival]:g}): a person decides the type"
        return TypeDecision(None, 0.0, [why, *priority_reasons], bool(priority_types))
    reasons = [f"{best}: " + "; ".join(cue_reasons[best])]
    if rival is not None:
        why = "the web form the sender chose decides" if chosen else "a priority document is typed as one"
        reasons.append(f"also cues of {rival} ({scores[rival]:g}): {why}")
    if best not in cues.priority:
        reasons += priority_reasons
    return TypeDecision(best, confidence, reasons, bool(priority_types))
