"""From cleared parts to text sections and page jobs: email bodies, PDFs, images, forms."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

from mailintake_classifier.adapters.ocr import PageJob


@dataclass
class Extracted:
    sections: list[str] = field(default_factory=list)
    # (part_id, page number, text-layer text or None when the page needs OCR, OCR job)
    pages: list[tuple[str, int, str | None, PageJob | None]] = field(default_factory=list)
    form_type: str | None = None


def pdf_pages(
    part_id: str, content: bytes, min_chars: int, dpi: int, language: str, retry: float, limit: int
) -> list[tuple[str, int, str | None, PageJob | None]]:
    """Each page's text layer, or an OCR job for pages that have (almost) none."""
    from pypdf import PdfReader

    pages: list[tuple[str, int, str | None, PageJob | None]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(content), strict=False)
            count = min(len(reader.pages), limit)
            for index in range(count):
                try:
                    text = reader.pages[index].extract_text() or ""
                except Exception:
                    text = ""
                if len(text.strip()) >= min_chars:
                    pages.append((part_id, index + 1, text, None))
                else:
                    pages.append((part_id, index + 1, None, PageJob("pdf", content, index, language, dpi, retry)))
    except Exception:
        return []
    return pages


def image_frames(
    part_id: str, content: bytes, language: str, retry: float, limit: int
) -> list[tuple[str, int, str | None, PageJob | None]]:
    """One OCR job per frame of an image (multi-page TIFF gives several)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as image:
            frames = min(getattr(image, "n_frames", 1), limit)
    except Exception:
        return []
    return [(part_id, i + 1, None, PageJob("image", content, i, language, 200, retry)) for i in range(frames)]
