"""Document type from the text, with a confidence and the cues that decided it (SPEC 5).

The cues are data (`data/document_types.yaml`, versioned): weighted regular expressions per
routing-matrix type. A web form's type is a strong cue of its own. Draft agreements are
recognised by the covering letter seeking advice on registration, not by missing signatures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    weight: float


@dataclass(frozen=True)
class TypeCues:
    version: int
    min_score: float
    confidence_k: float
    priority: frozenset[str]
    types: dict[str, tuple[Cue, ...]]
    form_types: dict[str, str]
    form_type_weight: float = 4.0


@dataclass(frozen=True)
class TypeDecision:
    document_type: str | None
    confidence: float
    reasons: list[str]
    priority: bool


def load_cues(data: dict[str, Any]) -> TypeCues:
    types = {
        name: tuple(Cue(re.compile(c["cue"], re.IGNORECASE | re.MULTILINE), float(c["weight"])) for c in cues)
        for name, cues in data["types"].items()
    }
    return TypeCues(
        int(data["version"]),
        float(data["min_score"]),
        float(data["confidence_k"]),
        frozenset(data.get("priority", [])),
        types,
        dict(data.get("form_types", {})),
        float(data.get("form_type_weight", 4.0)),
    )


@lru_cache(maxsize=1)
def default_cues() -> TypeCues:
    text = resources.files("mailintake_classifier.data").joinpath("document_types.yaml").read_text(encoding="utf-8")
    return load_cues(yaml.safe_load(text))


def decide_type(text: str, form_type: str | None = None, cues: TypeCues | None = None) -> TypeDecision:
    cues = cues or default_cues()
    scores: dict[str, float] = {}
    reasons: dict[str, list[str]] = {}
    for name, type_cues in cues.types.items():
        for cue in type_cues:
            if cue.pattern.search(text):
                scores[name] = scores.get(name, 0.0) + cue.weight
                reasons.setdefault(name, []).append(f"cue '{cue.pattern.pattern}' (+{cue.weight:g})")
    if form_type in cues.form_types:
        named = cues.form_types[form_type]
        scores[named] = scores.get(named, 0.0) + cues.form_type_weight
        reasons.setdefault(named, []).append(f"web form type {form_type} (+{cues.form_type_weight:g})")
    if not scores:
        return TypeDecision(None, 0.0, ["no document-type cue found"], False)
    best = max(scores, key=lambda name: (scores[name], name == "agreement_draft"))
    score = scores[best]
    if score < cues.min_score:
        return TypeDecision(None, 0.0, [f"best guess {best} scored {score:g}, under {cues.min_score:g}"], False)
    confidence = round(score / (score + cues.confidence_k), 3)
    return TypeDecision(best, confidence, [f"{best}: " + "; ".join(reasons[best])], best in cues.priority)
