"""Several forms in one scan or PDF (seed 001 line 99; issue 14).

"This process applies to correspondence where multiple unrelated customers are listed in the one
scan, or multiple forms for the same customer have been scanned together": such an item goes to
`multiple-customers`, to be split, even when it names one customer.

A form starts on a page whose opening lines carry a form's title with a confident type
(`decide_type` on those title lines alone, a type listed in `document_types.yaml` `forms.types`).
The starts are counted per scan or PDF; two or more (same or different type) are several forms.
Conservative, because real mail must not go to the wrong queue; a page starts no form when:
- it is a letter's page: it greets or signs off (a covering letter names the form it encloses);
- it says it continues something: "page 2 of 4", "continued", an annexure or exhibit;
- its only title-like line is a reference ("Re: Application for child support") or a sentence;
- it follows a page titled as a document that annexes others (`forms.annexing`: an agreement with
  its annexures is one document).
Forms of one family count once: a court filing (an application, its notice of hearing) is one
bundle for the court team (seed 001 line 141), while a registry form scanned with an agency form
makes two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailintake_classifier.domain.doctype import TypeCues, decide_type, default_cues
from mailintake_classifier.domain.normalise import normalise
from mailintake_classifier.domain.quality import PAGE_OF, PageReading

OPENING_LINES = 6  # the lines of a page a form's title is looked for in
TITLE_MAX_WORDS = 12
LETTER = re.compile(
    r"^\W*(dear|to whom it may concern|hello|hi)\b|\byours\s+(sincerely|faithfully|truly)\b"
    r"|^\W*((kind|best|warm)\s+)?regards\b",
    re.IGNORECASE | re.MULTILINE,
)
CONTINUES = re.compile(
    r"\b(continued|cont'?d|annexure|annexed|exhibit|attachment\s+[a-z0-9]\b|schedule\s+[a-z0-9]\b)",
    re.IGNORECASE,
)
REFERENCE = re.compile(r"^\W*(re|subject|ref|reference|regarding|about|enclosed|attached)\b", re.IGNORECASE)
SENTENCE = re.compile(r"[.?!;,]\s+\S|[.?!,;]$|\b(i|i'm|i've|we|my|me)\b", re.IGNORECASE)


@dataclass(frozen=True)
class FormStart:
    """A page that begins a form: where, and the form's type."""

    part_id: str
    page: int
    document_type: str


def title_lines(text: str) -> list[str]:
    """The page's opening lines that read as a title: short, not a sentence, not a reference."""
    opening = [line.strip() for line in text.splitlines() if line.strip()][:OPENING_LINES]
    return [
        line
        for line in opening
        if len(line.split()) <= TITLE_MAX_WORDS
        and not REFERENCE.search(line)
        and not SENTENCE.search(line)
        and next((ch for ch in line if ch.isalpha()), "a").isupper()
    ]


def continues_something(text: str) -> bool:
    """The page says it is not a first page: a later page number, a continuation, an annexure."""
    if any(0 < int(total) <= 500 and 1 < int(number) <= int(total) for number, total in PAGE_OF.findall(text)):
        return True
    opening = "\n".join([line for line in text.splitlines() if line.strip()][:OPENING_LINES])
    return bool(CONTINUES.search(opening))


def page_title_type(reading: PageReading, cues: TypeCues) -> str | None:
    """The confident type the page's title lines give, whatever it is; None for a letter's page,
    a page that continues something, or one without a confidently typed title."""
    if LETTER.search(reading.text) or continues_something(reading.text):
        return None
    titles = title_lines(reading.text)
    if not titles:
        return None
    normalised = normalise("\n\n".join(titles))
    mended = "" if normalised.lower == normalised.text.lower() else f"\n{normalised.lower}"  # OCR slips mended
    return decide_type(normalised.text + mended, None, cues).document_type


def form_starts(pages: list[PageReading], cues: TypeCues | None = None) -> list[FormStart]:
    """The pages that begin a form, in order; none after a page titled as an annexing document
    (an agreement) in the same part."""
    cues = cues or default_cues()
    starts: list[FormStart] = []
    annexed: set[str] = set()  # parts whose later pages are an annexing document's annexures
    for reading in pages:
        if reading.part_id in annexed:
            continue
        found = page_title_type(reading, cues)
        if found in cues.annexing:
            annexed.add(reading.part_id)
        elif found in cues.forms:
            starts.append(FormStart(reading.part_id, reading.page, found))
    return starts


def several_forms(starts: list[FormStart], cues: TypeCues | None = None) -> bool:
    """Two or more forms in one scan or PDF; the forms of one family (a court filing) count once."""
    cues = cues or default_cues()
    kinds: dict[str, set[str]] = {}
    for start in starts:
        family = cues.family_of(start.document_type)
        kinds.setdefault(start.part_id, set()).add(family.general if family else f"{start.page}")
    return any(len(found) >= 2 for found in kinds.values())
