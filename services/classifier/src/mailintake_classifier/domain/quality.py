"""Image quality of scans: blank pages, separator sheets, missing pages (feeds routing's
`review-image` and `pending-delete` rules)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailintake_classifier.domain.normalise import normalise

SEPARATOR = re.compile(
    r"\b(separator\s+sheet|batch\s+separator|document\s+separator|batch\s+header|patch\s?code|scanner\s+test"
    r"|test\s+(page|sheet)|calibration\s+(page|sheet))\b",
    re.IGNORECASE,
)
PAGE_OF = re.compile(r"\bpage\s+(\d{1,3})\s*(?:of|/)\s*(\d{1,3})\b", re.IGNORECASE)


@dataclass(frozen=True)
class PageReading:
    part_id: str
    page: int
    text: str
    ocr_confidence: float | None  # None when the page had a text layer
    ink: float  # share of dark pixels, 1.0 when unknown (text layer)


@dataclass(frozen=True)
class PageQuality:
    part_id: str
    page: int
    ocr_confidence: float | None
    blank: bool
    separator: bool


def assess_page(reading: PageReading, blank_ink: float, blank_min_chars: int) -> PageQuality:
    letters = sum(ch.isalnum() for ch in reading.text)
    blank = reading.ink < blank_ink and letters < blank_min_chars
    return PageQuality(
        reading.part_id,
        reading.page,
        reading.ocr_confidence,
        blank,
        bool(SEPARATOR.search(normalise(reading.text).text)),
    )


def missing_pages(readings: list[PageReading]) -> bool:
    """True when the pages say 'page N of M' and fewer than M pages arrived, or numbers skip."""
    declared_total = 0
    seen: set[int] = set()
    for reading in readings:
        for number, total in PAGE_OF.findall(reading.text):
            if 0 < int(number) <= int(total) <= 500:
                declared_total = max(declared_total, int(total))
                seen.add(int(number))
    if not declared_total:
        return False
    return len(readings) < declared_total or (bool(seen) and max(seen) > len(seen) and len(seen) < declared_total)


def mean_confidence(qualities: list[PageQuality]) -> float | None:
    values = [q.ocr_confidence for q in qualities if q.ocr_confidence is not None and not q.blank]
    return round(sum(values) / len(values), 1) if values else None
