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
import string
from collections.abc import Iterator
from typing import Any

TFN_MASK = "[TFN REMOVED]"
ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
TFN_WEIGHTS = {9: (1, 4, 3, 7, 5, 8, 6, 9, 10), 8: (10, 7, 8, 4, 6, 3, 5, 1)}

# Each pattern starts with a digit and looks behind it after (`\d(?<!\d\d)` is `(?<!\d)\d`): the
# regular expression engine then skips to the next digit instead of trying the look-behind at every
# character, a third of the time on a letter (issue 18).
ABN_PATTERN = re.compile(r"(\d(?<!\d\d)\d[ ]?\d{3}[ ]?\d{3}[ ]?\d{3})(?!\d)")
TFN_PATTERN = re.compile(r"(\d(?<![\dA-Za-z]\d)\d{2}[ \-]?\d{3}[ \-]?\d{2,3})(?![\dA-Za-z])")
# A text's shape, one byte a character (issue 18, session 13): an ASCII digit reads "9", an ASCII
# letter "a", a space " ", a hyphen "-", "?" stays and every other character "."; TFN_SHAPE and
# ABN_SHAPE are the two patterns over these classes. In an ASCII text they match where the
# patterns do, and the literal "9" they start with lets the engine skip to the next digit, where
# `\d` costs it a test per character (33 us over a 5 KB letter, a pass each pattern). Outside ASCII
# a character is encoded as one "?" and may be another script's digit (`\d`) or a letter that is
# not A-Z: there "?" reads "9", and a text without what every TFN_PATTERN match holds (digits and
# separators as a TFN is written, ROUGH_TFN_SHAPE) is left without searching it.
_SHAPE_OF = {
    **dict.fromkeys(string.digits, "9"),
    **dict.fromkeys(string.ascii_letters, "a"),
    " ": " ",
    "-": "-",
    "?": "?",
}
SHAPES = bytes(ord(_SHAPE_OF.get(chr(byte), ".")) for byte in range(256))
TFN_SHAPE = re.compile(rb"9(?<![9a]9)99[ \-]?999[ \-]?999?(?![9a])")
ABN_SHAPE = re.compile(rb"9(?<!99)9 ?999 ?999 ?999(?!9)")
ROUGH_TFN_SHAPE = re.compile(rb"999[ \-]?999[ \-]?99")  # written out: a literal start is searched for fast
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


def ascii_shape(text: str) -> bytes:
    """An ASCII text's shape (SHAPES): one byte a character, in place."""
    return text.encode("ascii").translate(SHAPES)


def rough_shape(text: str) -> bytes:
    """Any text's shape with every character outside ASCII (and "?") read as a digit."""
    return text.encode("ascii", "replace").translate(SHAPES).replace(b"?", b"9")


def _numbers(text: str) -> tuple[list[tuple[int, int]], Iterator[re.Match[Any]]] | None:
    """Where TFN_PATTERN matches in `text`, and ABN_PATTERN's matches (iterated only when needed);
    None where a text outside ASCII holds nothing a TFN could be."""
    if text.isascii():
        shape = ascii_shape(text)
        return [m.span() for m in TFN_SHAPE.finditer(shape)], ABN_SHAPE.finditer(shape)
    if ROUGH_TFN_SHAPE.search(rough_shape(text)) is None:
        return None
    return [m.span() for m in TFN_PATTERN.finditer(text)], ABN_PATTERN.finditer(text)


def mask_tfns(text: str) -> str:
    """Replace every valid TFN with a mask; ABNs and CRNs are left alone."""
    numbers = _numbers(text) if text else None
    if not numbers or not numbers[0]:
        return text
    candidates, abns = numbers
    abn_spans: list[tuple[int, int]] | None = None  # found once a number passes the TFN checksum
    pieces, after = [], 0
    for start, end in candidates:
        digits = text[start:end].replace(" ", "").replace("-", "")
        if not tfn_valid(digits):
            continue
        if abn_spans is None:
            abn_spans = [m.span() for m in abns if abn_valid(text[m.start() : m.end()].replace(" ", ""))]
        if any(s < end and start < e for s, e in abn_spans):
            continue
        if len(digits) == 9 and written_as_crn(text, start, end):
            continue
        pieces += [text[after:start], TFN_MASK]
        after = end
    if not pieces:
        return text
    pieces.append(text[after:])
    return "".join(pieces)


def mask_optional(text: str | None) -> str | None:
    return mask_tfns(text) if text else text
