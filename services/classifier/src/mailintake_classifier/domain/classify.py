"""Putting it together: from the texts of one item to its classification (SPEC 5).

Pure: the handler reads the cleared parts and OCRs pages, this module decides. Tax file
numbers are masked before anything else sees the text, so nothing stored downstream holds one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

from mailintake_classifier.domain.at_risk import Match, find_at_risk
from mailintake_classifier.domain.at_risk.words import Words, read_words
from mailintake_classifier.domain.audience import Audience, assess_audience, employer_correspondence
from mailintake_classifier.domain.audience import default_cues as default_audience_cues
from mailintake_classifier.domain.audience import needles_of as needles_of_audience
from mailintake_classifier.domain.audience_model import default_model as default_audience_model
from mailintake_classifier.domain.doctype import TypeDecision, decide_type
from mailintake_classifier.domain.doctype import default_cues as default_type_cues
from mailintake_classifier.domain.doctype import needles_of as needles_of_types
from mailintake_classifier.domain.forms import form_starts, several_forms
from mailintake_classifier.domain.identifiers import (
    NAME_FINDER,
    Identifiers,
    Person,
    find_identifiers,
    find_people,
    mask_tfns,
)
from mailintake_classifier.domain.needles import NeedleAutomaton, TextNeedles
from mailintake_classifier.domain.normalise import Normalised, normalise
from mailintake_classifier.domain.quality import (
    PageQuality,
    PageReading,
    assess_page,
    mean_confidence,
    missing_pages,
)
from mailintake_classifier.domain.senders import (
    MAX_NAMES,
    Writer,
    capitalised_runs,
    covering_spans,
    deduction_kinds,
    employer_voice,
    find_organisation_names,
    find_writers,
    needles_of_senders,
)
from mailintake_classifier.domain.text import Section
from mailintake_common.events import DeductionKind, Verdict

__all__ = ["Classification", "ItemText", "Section", "classify", "prepare"]

MAX_CHARS = 1_000_000  # text read per item (MAILINTAKE_AT_RISK_MAX_CHARS); about 3 s of detector work
URGENT_LINE = "Urgent potential at risk customer"  # seed 001: Complaints/Feedback web form correspondence


@dataclass
class ItemText:
    channel: str
    form_type: str | None = None
    verdict: Verdict = "clear"
    report_type: str | None = None  # multipart/report report-type of an email
    sections: list[Section] = field(default_factory=list)  # subject, bodies, attachment texts, form fields
    pages: list[PageReading] = field(default_factory=list)  # scanned / PDF pages, in order
    unchecked: list[str] = field(default_factory=list)  # sources of parts nothing could be read from


@dataclass
class Classification:
    text: str  # what is stored (TFNs masked, urgent line first when due)
    document: TypeDecision
    at_risk: list[Match]
    identifiers: Identifiers
    people: list[Person]
    pages: list[PageQuality]
    ocr_confidence: float | None
    missing_pages: bool
    audience: Audience  # other agency, unrelated, overseas case, referrals, Securemail wording (issue 14)
    unchecked: list[str] = field(default_factory=list)  # parts (or their ends) nobody read: a person reads them
    writers: list[Writer] = field(default_factory=list)  # who wrote it or on whose behalf (senders.py)
    organisation_names: list[str] = field(default_factory=list)
    employer_correspondence: bool = False
    deductions: list[DeductionKind] = field(default_factory=list)
    several_forms: bool = False  # two or more forms in one scan or PDF (seed 001 line 99; forms.py)

    @property
    def child_support_related(self) -> bool:
        return self.audience.child_support_related

    @property
    def intended_for_other_agency(self) -> bool:
        return self.audience.intended_for_other_agency

    @property
    def overseas(self) -> bool:
        return self.audience.overseas_case


def read_pieces(item: ItemText, max_chars: int = MAX_CHARS) -> tuple[str, list[tuple[str, int, str]], list[str]]:
    """The stored text (TFNs masked, sections joined by a blank line) and each piece's
    (source, offset into it, text), so a match is reported in the part it came from.

    At most `max_chars` are read per item (the work per item is bounded); a piece cut short
    is returned as unchecked, so a person reads the rest."""
    pieces: list[tuple[str, str]] = [(s.source, s.text) for s in item.sections]
    pieces += [(f"{p.part_id} page {p.page}", p.text) for p in item.pages]
    placed: list[tuple[str, int, str]] = []
    cut_short: list[str] = []
    body, offset = [], 0
    for source, text in pieces:
        if offset + len(text) > max_chars:
            text = text[: max(0, max_chars - offset)]
            cut_short.append(f"{source} (text beyond the first {max_chars} characters)")
        masked = mask_tfns(text).strip()
        if not masked:
            continue
        placed.append((source, offset, masked))
        body.append(masked)
        offset += len(masked) + 2
    return "\n\n".join(body), placed, cut_short


def ocr_mended(normalised: Normalised) -> list[str]:
    """The paragraphs whose OCR-mended reading ("FAMI1Y C0URT" -> "family court") differs from
    the text, so type cues read both; a clean text adds nothing to read."""
    pairs = zip(normalised.text.split("\n"), normalised.lower.split("\n"), strict=False)
    return [mended for plain, mended in pairs if mended != plain.lower()]


def at_risk_in(pieces: list[tuple[str, int, str]], readings: list[Words]) -> list[Match]:
    """Every piece read on its own (subject, each body, each attachment and page); `readings`:
    each piece's words reading."""
    found = []
    for (source, offset, text), words in zip(pieces, readings, strict=True):
        found += [replace(m, offset=m.offset + offset) for m in find_at_risk(text, part=source, words=words)]
    return found


def normalise_body(body: str, readings: list[Words]) -> Normalised:
    """`normalise(body)` for a body that is the pieces joined by blank lines, from the pieces' own
    normalised readings (issue 18: the text was normalised twice). Normalising works within a
    line or across one line break, never across a blank line, so the body's reading is the
    pieces' readings joined by a paragraph break, as long as no piece's reading begins or ends
    with white space (NFKC can make some) or is empty; otherwise the body is read again."""
    parts = [words.normalised for words in readings]
    if not parts or body != "\n\n".join(part.source for part in parts):
        return normalise(body)
    if not all(part.text and not part.text[0].isspace() and not part.text[-1].isspace() for part in parts):
        return normalise(body)
    return Normalised(body, "\n".join(part.text for part in parts), "\n".join(part.lower for part in parts))


def classify(
    item: ItemText,
    *,
    blank_ink: float = 0.004,
    blank_min_chars: int = 8,
    max_chars: int = MAX_CHARS,
    unreadable_below: float = 40.0,
) -> Classification:
    body, pieces, cut_short = read_pieces(item, max_chars)
    readings = [read_words(text) for _, _, text in pieces]
    matches = at_risk_in(pieces, readings)
    shift = 0
    if item.form_type == "complaint_feedback" and matches:
        shift = len(URGENT_LINE) + 1
        body = f"{URGENT_LINE}\n{body}"
        matches = [replace(m, offset=m.offset + shift) for m in matches]
    # Identifiers, types and cues read the normalised text: a CRN wrapped across lines is one CRN.
    normalised = normalise_body(body, readings)
    flat = normalised.text
    # Where every cue's needles occur, found in one pass over the text (needles.py).
    found = TextNeedles(flat, default_needles())
    pages = [assess_page(p, blank_ink, blank_min_chars) for p in item.pages]
    if item.verdict != "clear":
        document = TypeDecision(None, 0.0, [f"not typed: screening verdict {item.verdict}"], False)
    elif item.report_type == "delivery-status":
        document = TypeDecision("returned_to_sender", 0.9, ["email delivery status report (bounce)"], False)
    else:
        mended = ocr_mended(normalised)
        # only the mended paragraphs are passed over again (needles.py `joined`)
        typed_found = found.joined("\n".join(mended), default_needles()) if mended else found
        document = decide_type(typed_found.text, item.form_type, found=typed_found)
    # Not child-support related only on positive evidence: an item with no cue either way gets
    # the benefit of the doubt (routing then identifies it).
    hits = {(m.category, m.layer, len(m.phrase.split())) for m in matches}
    # the audience model reads the whole item's words (the pieces' readings run together)
    reading = default_audience_model().read("".join(words.text for words in readings)) if readings else None
    audience = assess_audience(flat, document.document_type, hits, found=found, reading=reading)
    typed = document.document_type == "employer_deduction"
    employer = employer_correspondence(audience, typed, employer_voice(flat, found))
    return Classification(
        text=body,
        document=document,
        at_risk=matches,
        identifiers=find_identifiers(flat),
        people=find_people(flat, found),
        pages=pages,
        ocr_confidence=mean_confidence(pages),
        missing_pages=missing_pages(item.pages),
        audience=audience,
        unchecked=[*item.unchecked, *cut_short, *misread_pages(pages, unreadable_below)],
        # names end at a line's end: read the text as written; the writer patterns' few needles
        # are looked up one by one, cheaper than passing every cue's needles over the text again
        writers=find_writers(body, covering=covering_spans(pieces, shift)),
        organisation_names=organisation_names(flat, found, employer),
        employer_correspondence=employer,
        deductions=deduction_kinds(flat),
        several_forms=len(item.pages) > 1 and several_forms(form_starts(item.pages)),
    )


def organisation_names(flat: str, found: TextNeedles, employer: bool) -> list[str]:
    """The organisations the text names: by a legal suffix or a label, and in employer
    correspondence any run of capitalised words too (a name without its suffix; issue 14)."""
    named = find_organisation_names(flat, found)
    if not employer:
        return named
    return list(dict.fromkeys([*named, *capitalised_runs(flat)]))[:MAX_NAMES]


# A short letter that every reading looks at, for `prepare()`.
WARM_UP = (
    "Hello, I moved house last month and my new address is on the form. My employer is Acme Pty Ltd.\n\n"
    "Kind regards,\nSam Citizen"
)


def prepare() -> None:
    """Build what the first document would otherwise build (the at-risk and audience models, the lexicon, the
    type and audience cues, the needle automaton) before a consumer takes work (issue 18)."""
    classify(ItemText("email", sections=[Section("subject", "Change of address"), Section("body 1", WARM_UP)]))


@lru_cache(maxsize=1)
def default_needles() -> NeedleAutomaton:
    """The needles of the default type and audience cues and of the sender and name patterns."""
    return NeedleAutomaton(
        needles_of_types(default_type_cues())
        | needles_of_audience(default_audience_cues())
        | needles_of_senders()
        | set(NAME_FINDER.needles or ())
    )


def misread_pages(pages: list[PageQuality], below: float) -> list[str]:
    """Pages OCR read so poorly that the at-risk check cannot vouch for them (issue 13: no silent
    path). Blank pages and pages with a text layer are not among them."""
    return [
        f"{p.part_id} page {p.page} (OCR confidence {p.ocr_confidence:.0f} under {below:.0f}: may be misread)"
        for p in pages
        if p.ocr_confidence is not None and p.ocr_confidence < below and not p.blank
    ]
