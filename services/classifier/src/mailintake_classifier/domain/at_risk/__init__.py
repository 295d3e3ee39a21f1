"""The at-risk detector (SPEC 5; seed 001 "Alert"; seed 002 on customers who mention suicide).

Two layers, combined so that recall comes first:
- precise: lexicon phrases and constructions (lexicon.py, data/at_risk.yaml), outside idiom guards;
- generalising: a classifier trained from shipped labelled data (model.py), for wording the
  lexicon's authors never wrote. A section whose score reaches the threshold raises a match on
  its highest-scoring sentence, in the category the model names.
Every match names its category, its passage (the sentence, as the source text has it), where it
was found (the section's source) and which layer found it; `DETECTOR_VERSION` is recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from mailintake_classifier.domain.at_risk.lexicon import Lexicon, compile_lexicon, lexicon_hits
from mailintake_classifier.domain.at_risk.model import Scorer, default_model
from mailintake_classifier.domain.at_risk.words import Words, read_words

MODEL_THRESHOLD = 0.34  # 95% recall in 5-fold cross-validation of the training data (docs/performance.md)
CONFIRM_THRESHOLD = 0.2  # a weak lexicon hit (in a mention or after a negation) needs this score
MAX_PASSAGE = 300


@dataclass(frozen=True)
class Match:
    category: str
    phrase: str  # the passage: the sentence holding the hit, as the source text has it
    offset: int  # into the text that was read
    part: str | None = None
    layer: str = "lexicon"


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    text = resources.files("mailintake_classifier.data").joinpath("at_risk.yaml").read_text(encoding="utf-8")
    return compile_lexicon(yaml.safe_load(text))


def detector_version() -> str:
    return f"lexicon-{default_lexicon().version}+model-{default_model().training_items}@{MODEL_THRESHOLD}"


def find_at_risk(
    text: str,
    lexicon: Lexicon | None = None,
    model: Scorer | None = None,
    *,
    part: str | None = None,
    threshold: float = MODEL_THRESHOLD,
    use_model: bool = True,
    words: Words | None = None,
) -> list[Match]:
    """Every at-risk match in `text`, in order; one per category and sentence. `words`: the
    text's words reading when the caller has it (`read_words(text)`)."""
    words = read_words(text) if words is None else words
    hits = lexicon_hits(words, lexicon or default_lexicon())
    score: float | None = None
    if use_model and (not hits or any(hit.weak for hit in hits)):
        model = model or default_model()
        score = model.scores([words.text])[0]
    found: dict[tuple[str, int], Match] = {}
    for hit in hits:
        if hit.weak and score is not None and score < CONFIRM_THRESHOLD:
            continue
        start, end = words.sentence_around(hit.start, hit.end)
        key = (hit.category, start)
        if key not in found:
            found[key] = _match(words, hit.category, start, end, part, hit.layer)
    if model is not None and score is not None and not found and score >= threshold:
        sentences = words.sentences()  # only when the text scored: most texts never need them
        if sentences:
            texts = [words.text[a:b] for a, b in sentences]
            scores = model.scores(texts)
            best = max(range(len(texts)), key=scores.__getitem__)
            category = model.categories([words.text])[0]
            found[(category, sentences[best][0])] = _match(words, category, *sentences[best], part, "model")
    return sorted(found.values(), key=lambda m: m.offset)


def _match(words: Words, category: str, start: int, end: int, part: str | None, layer: str) -> Match:
    a, b = words.source_span(start, end)
    passage = words.normalised.source[a:b].strip()
    offset = a + (len(words.normalised.source[a:b]) - len(words.normalised.source[a:b].lstrip()))
    return Match(category, passage[:MAX_PASSAGE], offset, part, layer)
