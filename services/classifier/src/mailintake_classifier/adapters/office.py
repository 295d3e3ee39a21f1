"""Reading Office documents as text, so the at-risk check and typing see what an officer would.

One reader per format, each returning pieces `(where, text)` in reading order, where `where`
is what a person would look for: "paragraph 2", "sheet Payroll, row 4", "slide 3".

Libraries (all read-only, none runs a macro or fetches a linked resource):
- docx: python-docx (lxml parser without entity resolution); body paragraphs, then tables
- xlsx: openpyxl in read-only mode with cached values (formulas are never evaluated, external
  links are not kept)
- odt, ods: odfpy
- pptx: python-pptx; text frames of each slide
- rtf: striprtf (pure text conversion of the control words)
- doc (Word 97-2003): Debian's `antiword`, run as a subprocess on a temporary file with a
  timeout; it only converts text. Chosen over olefile + our own piece-table parser because it
  is a real, long-kept reader of the format (fast-saved files, Word 6/95 included).

Quarantine already refused encrypted and macro-bearing documents before anything gets here.
Any failure of a library on a damaged file becomes `OfficeUnreadable`, never a crash; the text
read per document is capped (`max_chars`), the rest is not read, and a zip-based document whose
parts declare more than `max_expanded` bytes is not opened (zipfile never reads past a declared
size, so this bounds the libraries' work).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Piece = tuple[str, str]  # (where in the document, text)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
RTF = ("text/rtf", "application/rtf")
DOC = "application/msword"
ZIPPED = ("docx", "xlsx", "pptx", "odt", "ods")


class OfficeUnreadable(Exception):
    """The document could not be read at all; `str()` says why, without its content."""


def office_format(media_type: str) -> str | None:
    """Which reader a (sniffed) media type needs, or None when it is not an Office document."""
    if media_type in RTF:
        return "rtf"
    return {DOCX: "docx", XLSX: "xlsx", PPTX: "pptx", ODT: "odt", ODS: "ods", DOC: "doc"}.get(media_type)


def read_office(
    fmt: str, content: bytes, max_chars: int, max_expanded: int = 100 * 2**20, doc_timeout_s: float = 20.0
) -> list[Piece]:
    """The document's pieces (at most `max_chars` of text); OfficeUnreadable when nothing can be read."""
    readers: dict[str, Callable[[bytes], Iterable[Piece]]] = {
        "docx": read_docx,
        "xlsx": read_xlsx,
        "pptx": read_pptx,
        "odt": read_odt,
        "ods": read_ods,
        "rtf": read_rtf,
        "doc": lambda data: read_doc(data, doc_timeout_s),
    }
    try:
        if fmt in ZIPPED:
            _check_expansion(fmt, content, max_expanded)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _capped(readers[fmt](content), max_chars)
    except OfficeUnreadable:
        raise
    except Exception as exc:  # a damaged file can make any of these libraries raise anything
        raise OfficeUnreadable(f"the {fmt} document could not be read ({type(exc).__name__})") from None


def _check_expansion(fmt: str, content: bytes, max_expanded: int) -> None:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        declared = sum(info.file_size for info in archive.infolist())
    if declared > max_expanded:
        raise OfficeUnreadable(f"the {fmt} document expands beyond {max_expanded} bytes and was not opened")


def _capped(pieces: Iterable[Piece], max_chars: int) -> list[Piece]:
    """Pieces up to `max_chars` of text in all; generators stop being read past the cap.
    Every piece costs at least one character, so endless empty rows end too."""
    kept: list[Piece] = []
    left = max_chars
    for where, text in pieces:
        text = text.strip()
        if text:
            kept.append((where, text[:left]))
        left -= max(1, len(text))
        if left <= 0:
            break
    return kept


def read_docx(content: bytes) -> Iterator[Piece]:
    from docx import Document

    document = Document(io.BytesIO(content))
    number = 0
    for paragraph in document.paragraphs:
        if paragraph.text.strip():
            number += 1
            yield f"paragraph {number}", paragraph.text
    for t, table in enumerate(document.tables, start=1):
        for r, row in enumerate(table.rows, start=1):
            yield f"table {t}, row {r}", _row_text(cell.text for cell in row.cells)


def read_xlsx(content: bytes) -> Iterator[Piece]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True, keep_links=False)
    try:
        for sheet in book.worksheets:
            for r, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield f"sheet {sheet.title}, row {r}", _row_text(row)
    finally:
        book.close()


def read_pptx(content: bytes) -> Iterator[Piece]:
    from pptx import Presentation

    deck = Presentation(io.BytesIO(content))
    for number, slide in enumerate(deck.slides, start=1):
        texts = [shape.text_frame.text for shape in slide.shapes if shape.has_text_frame]
        yield f"slide {number}", "\n".join(texts)


def read_odt(content: bytes) -> Iterator[Piece]:
    from odf import teletype
    from odf.opendocument import load

    document = load(io.BytesIO(content))
    number = 0
    for element in _odf_paragraphs(document.text):
        value = teletype.extractText(element)
        if value.strip():
            number += 1
            yield f"paragraph {number}", value


def _odf_paragraphs(node: Any) -> Iterator[Any]:
    """Paragraphs and headings in reading order (lists and tables hold paragraphs too)."""
    from odf.namespaces import TEXTNS

    for child in node.childNodes:
        if getattr(child, "qname", None) in ((TEXTNS, "p"), (TEXTNS, "h")):
            yield child
        elif getattr(child, "childNodes", None):
            yield from _odf_paragraphs(child)


def read_ods(content: bytes) -> Iterator[Piece]:
    from odf import table, teletype, text
    from odf.opendocument import load

    document = load(io.BytesIO(content))
    for sheet in document.spreadsheet.getElementsByType(table.Table):
        name = sheet.getAttribute("name")
        number = 0
        for row in sheet.getElementsByType(table.TableRow):
            # a run of identical (usually empty) rows is stored once with a repeat count
            repeated = int(row.getAttribute("numberrowsrepeated") or 1)
            cells = [
                " ".join(teletype.extractText(p) for p in cell.getElementsByType(text.P))
                for cell in row.getElementsByType(table.TableCell)
            ]
            yield f"sheet {name}, row {number + 1}", _row_text(cells)
            number += repeated


def read_rtf(content: bytes) -> Iterator[Piece]:
    from striprtf.striprtf import rtf_to_text

    if not content.lstrip().startswith(b"{\\rtf"):
        raise OfficeUnreadable("the rtf document has no RTF header")
    converted = rtf_to_text(content.decode("latin-1"), encoding="cp1252", errors="replace")
    yield from _paragraphs(converted)


def read_doc(content: bytes, timeout_s: float) -> Iterator[Piece]:
    antiword = shutil.which("antiword")
    if antiword is None:
        raise OfficeUnreadable("no reader for Word 97-2003 documents is installed (antiword)")
    with tempfile.NamedTemporaryFile(suffix=".doc") as handle:
        handle.write(content)
        handle.flush()
        try:
            done = subprocess.run(
                [antiword, "-m", "UTF-8.txt", "-w", "0", handle.name],
                capture_output=True,
                timeout=timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise OfficeUnreadable(f"the doc document took longer than {timeout_s:.0f} s to read") from None
    if done.returncode != 0:
        raise OfficeUnreadable("the doc document could not be read (antiword refused it)")
    yield from _paragraphs(done.stdout.decode("utf-8", errors="replace"))


def _paragraphs(converted: str) -> Iterator[Piece]:
    number = 0
    for line in converted.splitlines():
        if line.strip():
            number += 1
            yield f"paragraph {number}", line


def _row_text(values: Iterable[object]) -> str:
    return " | ".join(str(v).strip() for v in values if v is not None and str(v).strip())
