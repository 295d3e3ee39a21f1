"""Classifier's settings: the OCR pool, image-quality thresholds and the limits on reading parts."""

from __future__ import annotations

from mailintake_common.cpus import available_cpus
from mailintake_common.settings import CommonSettings, MiB


class ClassifierSettings(CommonSettings):
    # Worker processes for OCR and for reading parts (one page or part each at a time); 0 means one per CPU the
    # cgroup CPU quota grants (a container's limit), else per core this process may run on
    ocr_workers: int = 0
    # Address space each worker process may use, in bytes (RLIMIT_AS, also binding Tesseract and pdftoppm); 0: none
    ocr_worker_memory_bytes: int = 1024 * MiB
    # Longest OCR of one page may take; its worker is then killed and the try counts as a worker failure
    ocr_page_timeout_s: float = 600.0
    # Longest reading one part (PDF text layers, HTML, Office) may take; then as for a page
    parse_timeout_s: float = 120.0
    # Longest one Tesseract run or one PDF page rendering may take; such a page is read as unreadable
    tesseract_timeout_s: float = 120.0
    # Tesseract's library, loaded once in each OCR worker, which then reads pages through it (issue 18); empty, or a
    # library that cannot be loaded: each page runs the `tesseract` command (the same words, slower)
    tesseract_library: str = "libtesseract.so.5"
    # Resolution PDF pages without a text layer are rendered at for OCR
    ocr_pdf_dpi: int = 200
    # Tesseract language(s)
    ocr_language: str = "eng"
    # Below this mean word confidence a page is retried after orientation detection
    ocr_retry_below_confidence: float = 45.0
    # A page OCR read with a mean word confidence under this may be misread: it is reported
    # unchecked, so a person reads it (the at-risk check cannot vouch for it)
    ocr_unchecked_below_confidence: float = 40.0
    # A PDF page with fewer characters than this in its text layer is OCR'd instead
    pdf_text_min_chars: int = 20
    # A page with less dark-pixel share than this and almost no text is blank
    blank_page_max_ink: float = 0.004
    # A page with fewer letters or digits than this may be blank
    blank_page_max_chars: int = 8
    # Most pages read from one item (the rest are not OCR'd and are reported missing)
    max_pages_per_item: int = 200
    # Most characters of text read from one part (an attachment, an archive member); the rest is not read
    max_chars_per_part: int = 500_000
    # Text the at-risk check and the other matchers read per item; the rest is reported unchecked.
    at_risk_max_chars: int = 1_000_000
    # A zip-based Office document (docx, xlsx, pptx, odt, ods) declaring more bytes than this is not opened
    office_max_expanded_bytes: int = 100 * 1024 * 1024
    # Longest a Word 97-2003 (.doc) conversion may run (antiword, a subprocess)
    doc_timeout_s: float = 20.0

    def workers(self) -> int:
        return self.ocr_workers or available_cpus()
