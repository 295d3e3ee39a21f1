"""Identifiers in text: CRNs, ABNs, email addresses, names with dates of birth; TFN masking.

- CRN (Centrelink customer reference number): 9 digits and a letter; spaces and OCR
  confusions in the digit part (O/o->0, I/l/|->1, S->5, B->8, Z->2) are tolerated, and at
  least six of the nine must already be digits, so ordinary words never read as a CRN.
- ABN: 11 digits (usually 2-3-3-3), accepted only when the ABN checksum holds.
- TFN (tax file number): masked in every stored text by `mailintake_common.privacy.mask_tfns`
  (SPEC 5 Privacy), which leaves CRNs (by label or check letter) and ABNs alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import chain, islice

from mailintake_classifier.domain.needles import FoldedFinder, TextNeedles
from mailintake_common.privacy import ABN_PATTERN, TFN_MASK, abn_valid, tfn_valid
from mailintake_common.privacy import mask_tfns as mask_every_tfn

DIGIT_LOOKALIKES = str.maketrans(
    {"O": "0", "o": "0", "I": "1", "l": "1", "|": "1", "S": "5", "s": "5", "B": "8", "Z": "2", "z": "2"}
)
_CRN_CHAR = r"[0-9OoIl|SsBZz]"
# (?<![A-Za-z0-9])((?:C[ \-]?){8}C)[ ]?([A-Za-z])(?![A-Za-z0-9]), the first C before the lookbehind
# (the regex engine then jumps from candidate to candidate instead of trying every position)
CRN_PATTERN = re.compile(
    rf"({_CRN_CHAR}(?<![A-Za-z0-9]{_CRN_CHAR})[ \-]?(?:{_CRN_CHAR}[ \-]?){{7}}{_CRN_CHAR})[ ]?([A-Za-z])(?![A-Za-z0-9])"
)
EMAIL_PATTERN = re.compile(r"(?<![\w.+-])([\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+)")

MONTH_NAMES = "january february march april may june july august september october november december"
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES.split(), start=1)}
DOB_PATTERN = re.compile(
    r"(?:d\.?o\.?b\.?|date of birth|born)\s*[:\-]?\s*"
    r"(\d{1,2}[/\-.]\d{1,2}[/\-.]\d{4}|\d{4}-\d{2}-\d{2}|\d{1,2}\s+[A-Za-z]{3,9}\s+\d{4})",
    re.IGNORECASE,
)
NAME_PATTERN = re.compile(r"(?i:name|customer|payer|payee|parent)\s*[:\-]\s*([A-Z][a-z'\-]+)\s+([A-Z][A-Za-z'\-]+)")
NAME_FINDER = FoldedFinder.of(NAME_PATTERN)  # tried only where a label begins (needles.py)
# What every match of a pattern holds, looked for first (a scan for a digit is a fraction of a
# scan trying a lookbehind at every character; issue 18). Six digits of a CRN's nine are digits,
# so two of them lie at most 11 characters apart; an ABN and a TFN hold their digits as written.
# Each opens with a single \d, so the regex engine skips to the next digit (a repeat first, as
# in \d{2}, would have it try every position).
CRN_HINT = re.compile(r"\d(?:\D{0,11}\d){5}")
ABN_HINT = re.compile(r"\d\d[ ]?\d{3}[ ]?\d{3}[ ]?\d{3}")
TFN_HINT = re.compile(r"\d\d\d[ \-]?\d{3}[ \-]?\d{2}")
# What no CRN match holds (its characters, separators and check letter are all of the other
# side): a match lies between two of these, so a stretch of text between them is scanned on its own,
# and only a stretch with six digits can hold a CRN (issue 18, session 12).
OUTSIDE_A_CRN = re.compile(r"[^0-9A-Za-z| \-]")
LAST_OUTSIDE_A_CRN = re.compile(r"(?s:.*)[^0-9A-Za-z| \-]")  # backs from its end: linear in what it backs over
CRN_DIGITS = 6
MAX_DIGITS_PLACED = 256  # beyond, the whole text is scanned
# A hint is tried at each digit, found with str.find (issue 18, session 12): a scan for a digit
# class still costs the regex engine a test per character (30 us over a 5 KB letter, three hints
# an item), a find per digit a small part of that. Past this many tries the text is scanned.
HINT_TRIES = 64


@dataclass
class Identifiers:
    crn: list[str] = field(default_factory=list)
    abn: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Person:
    given_name: str
    family_name: str
    date_of_birth: str | None


def holds_hint(hint: re.Pattern[str], text: str) -> bool:
    """`hint.search(text) is not None` for a hint whose every match begins with a digit: tried
    where an ASCII text's digits are (a text in other scripts may hold other digits: scanned)."""
    if not text.isascii():
        return hint.search(text) is not None
    for tries, at in enumerate(digit_places(text)):
        if tries >= HINT_TRIES:  # a table of figures: one scan is cheaper
            return hint.search(text) is not None
        if hint.match(text, at) is not None:
            return True
    return False


def digit_places(text: str) -> Iterator[int]:
    """Where each ASCII digit is, digit by digit (not in order): a find per digit."""
    for digit in "0123456789":
        at = text.find(digit)
        while at >= 0:
            yield at
            at = text.find(digit, at + 1)


def crn_stretches(text: str) -> list[tuple[int, int]] | None:
    """The stretches of `text` between characters no CRN match holds that have six ASCII digits
    or more (a CRN's nine characters hold six), in order; None for a text with very many digits.
    `CRN_PATTERN.finditer` over each in turn (its lookbehind sees the character before a
    stretch; at a stretch's end its lookahead sees an end, where the text has a character
    that is neither letter nor digit) yields the whole text's matches that hold six digits."""
    digits = sorted(islice(digit_places(text), MAX_DIGITS_PLACED + 1))
    if len(digits) > MAX_DIGITS_PLACED:
        return None
    stretches = []
    n = 0
    while n < len(digits):
        before = LAST_OUTSIDE_A_CRN.match(text, 0, digits[n])
        after = OUTSIDE_A_CRN.search(text, digits[n])
        start, end = before.end() if before else 0, after.start() if after else len(text)
        first = n
        while n < len(digits) and digits[n] < end:
            n += 1
        if n - first >= CRN_DIGITS:
            stretches.append((start, end))
    return stretches


def find_crns(text: str) -> list[str]:
    if not holds_hint(CRN_HINT, text):
        return []
    found = []
    stretches = crn_stretches(text)
    if stretches is None:
        matches: Iterable[re.Match[str]] = CRN_PATTERN.finditer(text)
    else:  # each stretch's matches are the whole text's there (its ends are never in a match)
        matches = chain.from_iterable(CRN_PATTERN.finditer(text, start, end) for start, end in stretches)
    for match in matches:
        raw = re.sub(r"[ \-]", "", match.group(1))
        if sum(ch.isdigit() for ch in raw) < CRN_DIGITS:
            continue
        found.append(raw.translate(DIGIT_LOOKALIKES) + match.group(2).upper())
    return list(dict.fromkeys(found))


def find_abns(text: str) -> list[str]:
    if not holds_hint(ABN_HINT, text):
        return []
    found = (re.sub(r" ", "", m.group(1)) for m in ABN_PATTERN.finditer(text))
    return list(dict.fromkeys(d for d in found if abn_valid(d)))


def find_emails(text: str) -> list[str]:
    if "@" not in text:
        return []
    return list(dict.fromkeys(m.group(1).lower().rstrip(".") for m in EMAIL_PATTERN.finditer(text)))


def mask_tfns(text: str) -> str:
    """`mailintake_common.privacy.mask_tfns`: the text with every TFN masked; a text without
    eight digits in a row (as a TFN is written) is returned as it is, unscanned."""
    return mask_every_tfn(text) if holds_hint(TFN_HINT, text) else text


def find_identifiers(text: str) -> Identifiers:
    return Identifiers(find_crns(text), find_abns(text), find_emails(text))


def parse_date(value: str) -> str | None:
    value = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value).isoformat()
        parts = re.split(r"[/\-.\s]+", value)
        day, month_text, year = int(parts[0]), parts[1], int(parts[2])
        if month_text.isdigit():
            month = int(month_text)
        else:
            month = next((n for name, n in MONTHS.items() if name.startswith(month_text.lower()[:3])), 0)
        return date(year, month, day).isoformat()
    except (ValueError, IndexError, TypeError):
        return None


def find_people(text: str, found: TextNeedles | None = None) -> list[Person]:
    """Names given beside a date of birth (within a few lines), for name + DOB identification.
    `found`: the text's needles when the caller has them."""
    people = []
    read = found if found is not None and found.text == text else TextNeedles(text)
    for name in NAME_FINDER.finditer_in(read):
        window = text[max(0, name.start() - 200) : name.end() + 200]
        dob = DOB_PATTERN.search(window)
        if dob:
            people.append(Person(name.group(1), name.group(2), parse_date(dob.group(1))))
    return list(dict.fromkeys(people))


__all__ = [
    "TFN_MASK",
    "Identifiers",
    "Person",
    "abn_valid",
    "find_identifiers",
    "find_people",
    "mask_tfns",
    "tfn_valid",
]
