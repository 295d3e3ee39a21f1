"""Tax file numbers out of everything stored or sent (SPEC 5 Privacy; issue 14).

One function every service uses on any text it stores or publishes: the classifier's text,
quarantine's subject, filenames, finding details and cleared bodies, intake's filenames, and
dead letters. Only the original blob keeps what the sender wrote.

A nine-digit number is a TFN when it passes the TFN checksum, unless it is a customer
reference number (CRN) or part of an ABN. It is a CRN (seed 001 line 26's customer record,
SPEC 5 "Identifiers") when it is written after "CRN" or "customer reference number", or when
its check letter follows it ("123 456 789A", "123456789 A"). A number written after "TFN" or
"tax file number" is a TFN whatever follows it.
"""

from __future__ import annotations

import re

TFN_MASK = "[TFN REMOVED]"
ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
TFN_WEIGHTS = {9: (1, 4, 3, 7, 5, 8, 6, 9, 10), 8: (10, 7, 8, 4, 6, 3, 5, 1)}

# Each pattern starts with a digit and looks behind it after (`\d(?<!\d\d)` is `(?<!\d)\d`): the
# regular expression engine then skips to the next digit instead of trying the look-behind at every
# character, a third of the time on a letter (issue 18).
ABN_PATTERN = re.compile(r"(\d(?<!\d\d)\d[ ]?\d{3}[ ]?\d{3}[ ]?\d{3})(?!\d)")
TFN_PATTERN = re.compile(r"(\d(?<![\dA-Za-z]\d)\d{2}[ \-]?\d{3}[ \-]?\d{2,3})(?![\dA-Za-z])")
FEWEST_DIGITS = 8  # an eight-digit TFN; a nine-digit one and an ABN have more
# "CRN", "CRN no.", "my CRN is", "customer reference number:", "Cust. Ref. No" ... just before the number.
_FILLER = r"(?:\s*(?:no\.?|number|#|is|was|:|-))*\s*$"
CRN_LABEL = re.compile(r"(?:\bcrns?|\bcustomer\s+ref(?:erence)?\.?)" + _FILLER, re.IGNORECASE)
TFN_LABEL = re.compile(r"(?:\btfns?|\btax\s+file)" + _FILLER, re.IGNORECASE)
# The check letter after a space: a capital standing alone ("123456789 A." or at the line's end),
# not the start of a sentence ("123456789 I think", "123456789 A copy ...").
SPACED_CHECK_LETTER = re.compile(r" [A-Z](?![A-Za-z0-9])(?! +[a-z])")
LABEL_WINDOW = 40


def abn_valid(digits: str) -> bool:
    if len(digits) != 11 or not digits.isdigit():
        return False
    values = [int(d) for d in digits]
    values[0] -= 1
    return sum(v * w for v, w in zip(values, ABN_WEIGHTS, strict=True)) % 89 == 0


def tfn_valid(digits: str) -> bool:
    weights = TFN_WEIGHTS.get(len(digits))
    if weights is None or not digits.isdigit():
        return False
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11 == 0


def written_as_crn(text: str, start: int, end: int) -> bool:
    """Is the number at text[start:end] a CRN by its label or its check letter (and not labelled a TFN)?"""
    before = text[max(0, start - LABEL_WINDOW) : start]
    if TFN_LABEL.search(before):
        return False
    if CRN_LABEL.search(before):
        return True
    return bool(SPACED_CHECK_LETTER.match(text, end))


def mask_tfns(text: str) -> str:
    """Replace every valid TFN with a mask; ABNs and CRNs are left alone."""
    if not text or (text.isascii() and sum(map(text.count, "0123456789")) < FEWEST_DIGITS):
        return text  # too few digits for any TFN (`\d` also matches other scripts' digits)
    abn_spans = [m.span() for m in ABN_PATTERN.finditer(text) if abn_valid(m.group(1).replace(" ", ""))]

    def replace(match: re.Match[str]) -> str:
        if any(start < match.end() and match.start() < end for start, end in abn_spans):
            return match.group(0)
        digits = re.sub(r"[ \-]", "", match.group(1))
        if not tfn_valid(digits):
            return match.group(0)
        if len(digits) == 9 and written_as_crn(text, match.start(), match.end()):
            return match.group(0)
        return TFN_MASK

    return TFN_PATTERN.sub(replace, text)


def mask_optional(text: str | None) -> str | None:
    return mask_tfns(text) if text else text
