"""From one cleared part to what the classifier reads (issue 13: read every part of every item).

Bodies, form fields, text and HTML attachments and Office documents become sections tagged
with where they came from ("attachment 1 letters.zip / statement.docx, paragraph 2"); PDFs and
images become pages (text layer or an OCR job). A part nothing could be read from says why, so
the item can be marked as not fully checked: a person must read it.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, TypeAlias

from mailintake_classifier.adapters.ocr import PageJob
from mailintake_classifier.adapters.office import OfficeUnreadable, office_format, read_office
from mailintake_classifier.adapters.pages import image_frames, pdf_pages
from mailintake_classifier.domain.text import Section, form_fields_to_text, html_to_text
from mailintake_classifier.settings import ClassifierSettings

if TYPE_CHECKING:  # a worker imports this module: not the spool, its blob store and their clients (issue 18)
    from mailintake_common.spool import PartContent

# (part_id, page number, text-layer text or None when the page needs OCR, OCR job)
PageSlot = tuple[str, int, str | None, PageJob | None]
TEXT_TYPES = ("application/json", "application/xml", "application/csv")
READ_AS_TEXT = ("text_body", "html_body", "form_fields")


@dataclass(frozen=True)
class PartLimits:
    """What reading a part needs of the settings. It crosses to the worker with each part instead of
    the whole settings, about 3 KB pickled: 20 us of CPU a part in the service and the worker (issue 18)."""

    max_chars_per_part: int
    office_max_expanded_bytes: int
    doc_timeout_s: float
    pdf_text_min_chars: int
    ocr_pdf_dpi: int
    ocr_language: str
    ocr_retry_below_confidence: float

    @classmethod
    def of(cls, settings: ClassifierSettings) -> PartLimits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


Limits: TypeAlias = ClassifierSettings | PartLimits  # either reads a part alike


@dataclass
class PartReading:
    sections: list[Section] = field(default_factory=list)
    pages: list[PageSlot] = field(default_factory=list)
    form_type: str | None = None
    unreadable: str | None = None  # why nothing could be read (no content quoted)


def read_part(
    kind: str,
    media_type: str,
    part_id: str,
    source: str,
    content: bytes | PartContent,
    settings: Limits,
    pages_left: int,
) -> PartReading:
    """What one cleared part holds; `pages_left` is what remains of the item's page budget.

    A PDF or image that arrives as a file (a large part, issue 17) is read from its path, and so
    are its pages' OCR jobs; anything else is read whole here, in the worker."""
    if not isinstance(content, bytes):  # a PartContent
        if content.path is not None and kind not in READ_AS_TEXT and _paged(media_type):
            return _pages(kind, media_type, part_id, content.path, settings, pages_left)
        content = content.read()
    if kind == "text_body":
        return PartReading([Section(source, content.decode("utf-8", errors="replace"))])
    if kind == "html_body":
        return PartReading([Section(source, html_to_text(content.decode("utf-8", errors="replace")))])
    if kind == "form_fields":
        fields, form_type = form_fields_to_text(content)
        sections = [Section(f"{source}, field {name}" if name else source, text) for name, text in fields]
        return PartReading(sections, form_type=form_type)
    if _paged(media_type):
        return _pages(kind, media_type, part_id, content, settings, pages_left)
    if kind == "scan":
        return PartReading(unreadable="a scan that is neither a PDF nor an image")
    return _attachment_text(media_type, source, content, settings)


def _paged(media_type: str) -> bool:
    return media_type == "application/pdf" or media_type.startswith("image/")


def _pages(
    kind: str, media_type: str, part_id: str, content: bytes | str, settings: Limits, pages_left: int
) -> PartReading:
    """Page slots of a PDF or image given as bytes or as a file's path."""
    if pages_left <= 0:
        # scans report missing pages through page quality; other files are simply not read
        return PartReading() if kind == "scan" else PartReading(unreadable="the item's page limit was reached")
    if media_type == "application/pdf":
        slots = pdf_pages(
            part_id,
            content,
            settings.pdf_text_min_chars,
            settings.ocr_pdf_dpi,
            settings.ocr_language,
            settings.ocr_retry_below_confidence,
            pages_left,
        )
    else:
        slots = image_frames(part_id, content, settings.ocr_language, settings.ocr_retry_below_confidence, pages_left)
    if not slots:
        return PartReading(
            unreadable=f"the {'PDF' if media_type == 'application/pdf' else 'image'} could not be opened"
        )
    return PartReading(pages=slots)


def _attachment_text(media_type: str, source: str, content: bytes, settings: Limits) -> PartReading:
    cap = settings.max_chars_per_part
    fmt = office_format(media_type)
    if fmt:
        try:
            pieces = read_office(fmt, content, cap, settings.office_max_expanded_bytes, settings.doc_timeout_s)
        except OfficeUnreadable as exc:
            return PartReading(unreadable=str(exc))
        return PartReading([Section(f"{source}, {where}", text) for where, text in pieces])
    if media_type == "text/html":
        return PartReading([Section(source, html_to_text(decode_text(content))[:cap])])
    if media_type.startswith("text/") or media_type in TEXT_TYPES:
        return PartReading([Section(source, decode_text(content)[:cap])])
    if not content.strip() or media_type in ("application/x-empty", "inode/x-empty"):
        return PartReading()
    return PartReading(unreadable=f"no reader for {media_type} files")


def decode_text(content: bytes) -> str:
    """A text file's characters: by its byte-order mark, else UTF-8, else Windows-1252 (which
    decodes any byte, so a text file is never left unread for its encoding)."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if content.startswith(bom):
            return content.decode(encoding, errors="replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")
