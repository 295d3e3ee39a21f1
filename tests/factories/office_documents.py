"""Office documents the tests build themselves, with the libraries that read them.

Each builder takes the text to put in and returns the file's bytes, made in memory.
"""

from __future__ import annotations

import io
import shutil
import struct
import tempfile
from pathlib import Path


def docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    from docx import Document

    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def odt(paragraphs: list[str]) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    document = OpenDocumentText()
    for text in paragraphs:
        document.text.addElement(P(text=text))
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def ods(sheets: dict[str, list[list[str]]]) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    document = OpenDocumentSpreadsheet()
    for name, rows in sheets.items():
        table = Table(name=name)
        for row in rows:
            table_row = TableRow()
            for value in row:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=value))
                table_row.addElement(cell)
            table.addElement(table_row)
        document.spreadsheet.addElement(table)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def pptx(slides: list[str]) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for text in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[6])  # blank layout
        slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1)).text_frame.text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def rtf(paragraphs: list[str]) -> bytes:
    """A plain RTF file as word processors write it (Windows-1252, one \\par per paragraph)."""
    body = "".join(
        text.replace("\\", "\\\\").replace("{", "\\{").replace("}", "\\}") + "\\par\n" for text in paragraphs
    )
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Times New Roman;}}\n\\f0\\fs24 " + body + "}").encode(
        "cp1252"
    )


WORD97_TEMPLATE = Path(__file__).resolve().parents[1] / "corpus" / "msoffcrypto-tool" / "plain.doc"


def word97_doc(paragraphs: list[str]) -> bytes:
    """A Word 97-2003 .doc holding `paragraphs` (cp1252), made from the corpus's empty plain.doc.

    That file's one piece of text starts at byte 2048 of the WordDocument stream, with 512 free
    bytes before the formatting pages; the text goes there and the character counts (FIB
    ccpText, fcMac, the piece table's last CP) are set to match.
    """
    import olefile

    text = "".join(f"{p}\r" for p in paragraphs).encode("cp1252")
    assert len(text) < 500, "the template has room for about 500 characters"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "letter.doc"
        shutil.copy(WORD97_TEMPLATE, path)
        with olefile.OleFileIO(str(path), write_mode=True) as ole:
            word = bytearray(ole.openstream("WordDocument").read())
            table = bytearray(ole.openstream("1Table").read())
            word[2048 : 2048 + len(text)] = text
            struct.pack_into("<i", word, 0x1C, 2048 + len(text))  # fcMac
            struct.pack_into("<i", word, 0x4C, len(text) - 1)  # ccpText, without the final mark
            fc_clx = struct.unpack_from("<I", word, 0x1A2)[0]
            struct.pack_into("<i", table, fc_clx + 1 + 4 + 4, len(text))  # Pcdt: 0x02, lcb, CP 0, CP end
            ole.write_stream("WordDocument", bytes(word))
            ole.write_stream("1Table", bytes(table))
        return path.read_bytes()
