"""Who an item is from, for routing's choice of record (seed 001 lines 26, 97, 151-156; issue 14).

- Writers: the person who wrote the item or on whose behalf it was sent, each with the part of
  the text that names them (`role`) and whether it is in the covering message (the email's
  subject and bodies, a web form's fields) or in what it encloses (attachments, scanned pages):
  the signatory of a statement ("I, Jane Citizen, of ..."), a representative's client ("we act
  for the mother, Ms Jane Citizen"), the name under a sign-off ("Yours sincerely," / "Cheers,"
  then "Jane Citizen"), a signature line ("Signed by: Jane Citizen"). Routing weighs them (an
  agreement's own signatory lines name both parties and say nothing of who sent it) and only
  uses them to tell which of the customers it identified sent the item, never to identify
  anyone by name alone.
- Organisations named: "Acme Pty Ltd", "Employer: Acme Holdings", and in employer
  correspondence any run of capitalised words ("Sunraysia Citrus Growers deductions for April"),
  for identifying an employer by name when its ABN and sender are unknown (routing matches a
  run only against a directory name it holds whole).
- Employer correspondence: written in an employer's voice (its payroll or HR, its employee,
  its liquidator), so that an employer not in the directory goes to unidentified-employer.
- Deduction kinds: standard employer deductions and s72A notices, which seed 001 line 97
  treats differently when several customers are listed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailintake_classifier.domain.needles import FoldedFinder, Screened, TextNeedles
from mailintake_common.events import DeductionKind, WriterRole

_TITLE = r"(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ \t]+)?"
# a given name, hyphenated or with an apostrophe too: "Kerry-Anne", "Jean-Luc", "D'Arcy" (issue 14)
_GIVEN = r"[A-Z](?:[a-z']+(?:-[A-Z]?[a-z']+)*|'[A-Z][a-z]+)"
# given [middle] family, on one line (read from the text as written, not the normalised one); a
# title is not a given name ("we act for the payer, Mr Hollis" is a title and a family name: below)
_NAME = (
    r"(?!(?:Mr|Mrs|Ms|Miss|Mx|Dr)\b)"
    rf"({_GIVEN})[ \t]+(?:{_GIVEN}[ \t]+)?([A-Z][A-Za-z'\-]+)(?![A-Za-z'\-])"
)
# How a representative names their client before the name: "the mother,", "our client,".
_CLIENT_IS = (
    r"(?:(?:our|my) client|the (?:mother|father|payee|payer|applicant|respondent|(?:other|paying|receiving) parent))"
)
# A representative naming their client: "We act for", "On behalf of", "Our client,", perhaps with
# "the mother," before the name.
_REPRESENTS = (
    r"(?i:\bon behalf of|\bwe (?:act|are acting) for|\bacting for|\bwe represent|\bour client,?)"
    rf"\s+(?i:{_CLIENT_IS},?\s+){{0,2}}"
)
WRITER_PATTERNS = (
    # the signatory of a statement or agreement: "I, Jane Citizen, of ..." / "I Jane Citizen (born ...)"
    # (the I first, then what is before it: the regex engine jumps from I to I; issue 18)
    re.compile(rf"I(?<![A-Za-z]I),?\s+{_TITLE}{_NAME}\s*(?:,|\(|\bof\b|\bborn\b|\bdate of birth\b|\bagree\b)"),
    # a representative's client, perhaps first called "the mother," or "our client,"
    re.compile(rf"{_REPRESENTS}{_TITLE}{_NAME}"),
    # a representative's client by title and family name alone ("We act for Ms Nguyen-Smith."): the
    # given name is empty, and routing compares family names (issue 14)
    re.compile(rf"{_REPRESENTS}(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?[ \t]+()([A-Z][A-Za-z'\-]+)(?![A-Za-z'\-]|[ \t]+[A-Z])"),
    # the name under a sign-off
    re.compile(rf"(?i:yours (?:sincerely|faithfully|truly)|kind regards|regards)\s*[,:\-]?\s+{_TITLE}{_NAME}"),
    # the name under a casual sign-off on a line of its own, then a comma or a line break (issue 14:
    # "Thanks Daniel Okafor for calling" is no sign-off)
    re.compile(
        r"(?m:^)(?i:cheers|thanks|thank you|many thanks|thanks again|best|best wishes|warmly)"
        rf"(?:[ \t]*[,!.]?[ \t]*\n(?:[ \t]*\n)?|[ \t]*,)[ \t]*{_TITLE}{_NAME}"
    ),
    # a signature line
    re.compile(rf"(?i:signed(?: by)?|signature)\s*[,:\-]?\s+{_TITLE}{_NAME}"),
)
WRITER_ROLES: tuple[WriterRole, ...] = ("signatory", "client", "client", "sign_off", "sign_off", "signature")
_ORG_WORD_REST = r"[A-Za-z0-9&'\-]*"
_ORG_WORD = rf"[A-Z]{_ORG_WORD_REST}"
_ORG_SUFFIX = r"(?:Pty\.?[ ]+Ltd|Pty\.?[ ]+Limited|Limited|Ltd|Inc)"
ORGANISATION_PATTERNS = (
    # \b then a capital: the capital first, then what is before it (as above)
    re.compile(rf"([A-Z](?<!\w[A-Z]){_ORG_WORD_REST}(?:[ ]+(?:{_ORG_WORD}|&|and|of)){{0,5}}?[ ]+{_ORG_SUFFIX})\b\.?"),
    re.compile(r"(?i:\b(?:employer|organisation|company|business)(?: name)?)\s*:\s*([A-Z][^\n,;:]{2,80})"),
)
# An employer writing about its staff, or its liquidator: never a customer's words about their
# own job ("I asked payroll to start the deductions" is a customer's letter).
EMPLOYER_VOICE = re.compile(
    r"\b(our (?:employees?|staff members?|workers?|team members?)|the (?:above|above named|named) employee|"
    r"(?:one|two|three|four|five|several|some|a few) of our "
    r"(?:[a-z]+ )?(?:employees|staff|workers|cleaners|drivers|casuals)|"
    r"we are a (?:new |small )?(?:business|company|employer)|"
    r"employee(?:'s)? (?:name|number|id)\s*:|"
    r"(?:ceased|left|finished) (?:employment|working|work) with us|(?:commenced|started) (?:employment|work) with us|"
    r"no longer (?:employed|works?) (?:by|with|for) us|(?:is|was|has been) employed by us|"
    r"(?:liquidators?|administrators?) (?:of|for) the company|(?:company|employer) (?:is )?in liquidation|"
    r"(?:been )?appointed (?:as )?(?:joint )?(?:liquidators?|administrators?))",
    re.IGNORECASE,
)
EMPLOYER_VOICE_CUE = Screened.of(EMPLOYER_VOICE)  # tried only where it can begin (needles.py)
S72A = re.compile(r"\b(?:s\.?\s?72\s?a|sec(?:tion|\.)?\s*72\s?a)\b", re.IGNORECASE)
STANDARD_DEDUCTION = re.compile(
    r"\b(?:s\.?\s?45|sec(?:tion|\.)?\s*45|employer deductions?|payroll deductions?|salary deductions?|"
    r"wage deductions?|deduct(?:ed|ions?)? from (?:the )?(?:employee'?s? )?(?:wages|salary|pay))\b",
    re.IGNORECASE,
)
MAX_NAMES = 10
# An organisation's name written without its legal suffix: a run of two to six capitalised words
# on one line ("Sunraysia Citrus Growers deductions for April"), read only in employer
# correspondence; routing takes a run only when it holds a directory name whole (identify.py).
CAPITALISED_RUN = re.compile(r"[A-Z](?<![\w'&\-][A-Z])[\w'&\-]*(?:[ ]+(?:[A-Z][\w'&\-]*|&|and|of)){1,5}")
_RUN_CONNECTORS = ("&", "and", "of")


@dataclass(frozen=True)
class Writer:
    given_name: str
    family_name: str
    role: WriterRole = "sign_off"  # which part of the text names them (WRITER_PATTERNS)
    covering: bool = False  # found in the covering message, not in what it encloses


TYPOGRAPHIC_APOSTROPHES = re.compile("[\u2018\u2019\u02bc]")
# Each tried only where one of its literal starts occurs, when it has some (needles.py; issue 18).
WRITER_FINDERS = tuple(FoldedFinder.of(p) for p in WRITER_PATTERNS)
ORGANISATION_FINDERS = tuple(FoldedFinder.of(p) for p in ORGANISATION_PATTERNS)


def _read(text: str, found: TextNeedles | None) -> TextNeedles:
    return found if found is not None and found.text == text else TextNeedles(text)


def find_writers(text: str, found: TextNeedles | None = None, covering: Sequence[tuple[int, int]] = ()) -> list[Writer]:
    """The people the item is written by or on behalf of, in the order they appear. `found`:
    the text's needles when the caller has them (the same answers, fewer passes); `covering`:
    the (start, end) spans of the text that are the covering message."""
    writers: list[tuple[int, Writer]] = []
    if TYPOGRAPHIC_APOSTROPHES.search(text):  # "O’Neill" as Word and phones write it (one character each)
        text, found = TYPOGRAPHIC_APOSTROPHES.sub("'", text), None
    read = _read(text, found)
    for finder, role in zip(WRITER_FINDERS, WRITER_ROLES, strict=True):
        for m in finder.finditer_in(read):
            at = m.start()
            inside = any(start <= at < end for start, end in covering)
            writers.append((at, Writer(m.group(1), m.group(2), role, inside)))
    return list(dict.fromkeys(w for _, w in sorted(writers, key=lambda f: f[0])))[:MAX_NAMES]


# The covering message: an email's subject and its own bodies, a web form's fields; not an
# attached email, an attachment or a scanned page (quarantine's places.py names the parts).
COVERING_PART = re.compile(r"subject|body \d+|form fields(?:, .*)?", re.DOTALL)


def covering_spans(pieces: Sequence[tuple[str, int, str]], shift: int = 0) -> list[tuple[int, int]]:
    """The (start, end) in the joined text of the pieces (source, offset, text) that are the
    covering message; `shift`: what was put before the joined text."""
    return [(shift + at, shift + at + len(text)) for source, at, text in pieces if COVERING_PART.fullmatch(source)]


def find_organisation_names(text: str, found: TextNeedles | None = None) -> list[str]:
    names: list[str] = []
    read = _read(text, found)
    for finder in ORGANISATION_FINDERS:
        names += [" ".join(m.group(1).split()).rstrip(".") for m in finder.finditer_in(read)]
    return list(dict.fromkeys(n for n in names if len(n) >= 3))[:MAX_NAMES]


def capitalised_runs(text: str) -> list[str]:
    """Runs of capitalised words that may be an organisation's name without its suffix."""
    runs = []
    for m in CAPITALISED_RUN.finditer(text):
        words = m.group(0).split()
        while words and words[-1] in _RUN_CONNECTORS:
            words.pop()
        if len(words) >= 2:
            runs.append(" ".join(words))
    return list(dict.fromkeys(runs))


def employer_voice(text: str, found: TextNeedles | None = None) -> bool:
    return EMPLOYER_VOICE_CUE.found_in(_read(text, found))


def needles_of_senders() -> set[str]:
    """The needles of the writer, organisation and employer-voice patterns."""
    finders = (*WRITER_FINDERS, *ORGANISATION_FINDERS)
    return {n for f in finders for n in (f.needles or ()) if f.places is not None} | set(
        EMPLOYER_VOICE_CUE.needles or ()
    )


def deduction_kinds(text: str) -> list[DeductionKind]:
    """'s72a' when the item speaks of s72A notices, 'standard' when of ordinary employer deductions."""
    kinds: list[DeductionKind] = []
    # Every s72A reference holds "72"; every standard one "45" or "deduct": without them the
    # patterns are not scanned (issue 18).
    if "72" in text and S72A.search(text):
        kinds.append("s72a")
        text = S72A.sub(" ", text)  # without a match it would only scan the text again (issue 18)
    if ("45" in text or "deduct" in text.lower()) and STANDARD_DEDUCTION.search(text):
        kinds.append("standard")
    return kinds
