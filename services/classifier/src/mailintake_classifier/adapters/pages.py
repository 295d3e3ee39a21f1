"""From cleared parts to text sections and page jobs: email bodies, PDFs, images, forms."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from mailintake_classifier.adapters.ocr import PageJob


@dataclass
class Extracted:
    sections: list[str] = field(default_factory=list)
    # (part_id, page number, text-layer text or None when the page needs OCR, OCR job)
    pages: list[tuple[str, int, str | None, PageJob | None]] = field(default_factory=list)
    form_type: str | None = None


@contextmanager
def _opened(content: bytes | str) -> Iterator[IO[bytes]]:
    """Content given as bytes, or as a file's path (a large part, issue 17: read as needed, not whole)."""
    if isinstance(content, str):
        with open(content, "rb") as file:
            yield file
    else:
        yield io.BytesIO(content)


def _job(kind: str, content: bytes | str, index: int, language: str, dpi: int, retry: float) -> PageJob:
    if isinstance(content, str):
        return PageJob(kind, b"", index, language, dpi, retry, path=content)
    return PageJob(kind, content, index, language, dpi, retry)


def pdf_pages(
    part_id: str, content: bytes | str, min_chars: int, dpi: int, language: str, retry: float, limit: int
) -> list[tuple[str, int, str | None, PageJob | None]]:
    """Each page's text layer, or an OCR job for pages that have (almost) none; `content` is the
    PDF or its file's path."""
    from pypdf import PdfReader

    pages: list[tuple[str, int, str | None, PageJob | None]] = []
    try:
        with warnings.catch_warnings(), _opened(content) as stream:
            warnings.simplefilter("ignore")
            reader = PdfReader(stream, strict=False)
            count = min(len(reader.pages), limit)
            for index in range(count):
                try:
                    text = reader.pages[index].extract_text() or ""
                except Exception:
                    text = ""
                if len(text.strip()) >= min_chars:
                    pages.append((part_id, index + 1, text, None))
                else:
                    pages.append((part_id, index + 1, None, _job("pdf", content, index, language, dpi, retry)))
    except Exception:
        return []
    return pages


def image_frames(
    part_id: str, content: bytes | str, language: str, retry: float, limit: int
) -> list[tuple[str, int, str | None, PageJob | None]]:
    """One OCR job per frame of an image (multi-page TIFF gives several); `content` is the image
    or its file's path."""
    from PIL import Image

    try:
        with _opened(content) as stream, Image.open(stream) as image:
            frames = min(getattr(image, "n_frames", 1), limit)
    except Exception:
        return []
    return [(part_id, i + 1, None, _job("image", content, i, language, 200, retry)) for i in range(frames)]
