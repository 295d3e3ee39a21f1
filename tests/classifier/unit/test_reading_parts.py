"""Reading Office documents and other attachments (adapters/office.py, adapters/parts.py).

Documents are built by tests/factories/office_documents.py with the libraries that read them;
the Word 97 file is the corpus's empty plain.doc with text written into it.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from mailintake_classifier.adapters.office import DOCX, OfficeUnreadable, office_format, read_office
from mailintake_classifier.adapters.parts import decode_text, read_part
from mailintake_classifier.domain.classify import ItemText, classify
from mailintake_classifier.domain.quality import PageReading
from mailintake_classifier.settings import ClassifierSettings
from tests.factories import office_documents as office

AT_RISK = "I want to kill myself"


def test_docx_paragraphs_are_numbered_and_tables_read_by_row() -> None:
    content = office.docx(["Dear officer,", "", AT_RISK], table=[["Name", "Amount"], ["Pay", "300"]])
    assert read_office("docx", content, 10_000) == [
        ("paragraph 1", "Dear officer,"),
        ("paragraph 2", AT_RISK),
        ("table 1, row 1", "Name | Amount"),
        ("table 1, row 2", "Pay | 300"),
    ]


def test_xlsx_cells_are_read_by_sheet_and_row() -> None:
    content = office.xlsx({"Payroll": [["Name", "Amount"], ["Pay", 300], [None, AT_RISK]], "Notes": [["ok"]]})
    assert read_office("xlsx", content, 10_000) == [
        ("sheet Payroll, row 1", "Name | Amount"),
        ("sheet Payroll, row 2", "Pay | 300"),
        ("sheet Payroll, row 3", AT_RISK),
        ("sheet Notes, row 1", "ok"),
    ]


def test_odt_paragraphs_are_read_in_order() -> None:
    assert read_office("odt", office.odt(["Dear officer,", AT_RISK]), 10_000) == [
        ("paragraph 1", "Dear officer,"),
        ("paragraph 2", AT_RISK),
    ]


def test_ods_cells_are_read_by_sheet_and_row() -> None:
    content = office.ods({"Payroll": [["Name", "Amount"], ["note", AT_RISK]]})
    assert read_office("ods", content, 10_000) == [
        ("sheet Payroll, row 1", "Name | Amount"),
        ("sheet Payroll, row 2", f"note | {AT_RISK}"),
    ]


def test_pptx_slides_are_read() -> None:
    assert read_office("pptx", office.pptx(["Agenda", AT_RISK]), 10_000) == [
        ("slide 1", "Agenda"),
        ("slide 2", AT_RISK),
    ]


def test_rtf_paragraphs_are_read_with_escapes_undone() -> None:
    assert read_office("rtf", office.rtf(["Costs {estimate}", AT_RISK]), 10_000) == [
        ("paragraph 1", "Costs {estimate}"),
        ("paragraph 2", AT_RISK),
    ]


def test_word_97_doc_is_read_with_antiword() -> None:
    assert read_office("doc", office.word97_doc(["Dear officer,", AT_RISK]), 10_000) == [
        ("paragraph 1", "Dear officer,"),
        ("paragraph 2", AT_RISK),
    ]


@pytest.mark.parametrize("fmt", ["docx", "xlsx", "pptx", "odt", "ods", "rtf", "doc"])
def test_a_damaged_document_is_unreadable_not_a_crash(fmt: str) -> None:
    damaged = {
        "docx": office.docx(["hello"])[:300],
        "xlsx": office.xlsx({"S": [["a"]]})[:-200],
        "pptx": b"PK\x03\x04" + b"\x00" * 100,
        "odt": office.odt(["hello"])[: len(office.odt(["hello"])) // 2],
        "ods": b"not a zip at all",
        "rtf": b"\x00\x01 binary, not RTF",
        "doc": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600,
    }[fmt]
    with pytest.raises(OfficeUnreadable) as caught:
        read_office(fmt, damaged, 10_000)
    assert fmt in str(caught.value)


def test_a_zip_part_that_is_not_the_document_it_claims_is_unreadable() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<not-really/>")
    with pytest.raises(OfficeUnreadable):
        read_office("docx", out.getvalue(), 10_000)


def test_a_document_declaring_a_huge_expansion_is_not_opened() -> None:
    content = office.docx(["hello"])
    with pytest.raises(OfficeUnreadable, match="expands beyond"):
        read_office("docx", content, 10_000, max_expanded=1000)


def test_text_read_per_document_is_capped() -> None:
    pieces = read_office("docx", office.docx(["a" * 50, "b" * 50, "c" * 50]), 70)
    assert pieces == [("paragraph 1", "a" * 50), ("paragraph 2", "b" * 20)]


def test_endless_empty_rows_end_at_the_cap() -> None:
    content = office.xlsx({"S": [[None]] * 500 + [["late text"]]})
    assert read_office("xlsx", content, 100) == []


def test_office_formats_come_from_the_sniffed_type() -> None:
    assert office_format(DOCX) == "docx"
    assert office_format("text/rtf") == "rtf"
    assert office_format("application/msword") == "doc"
    assert office_format("application/pdf") is None


# -- one cleared part to sections -------------------------------------------------------------

SETTINGS = ClassifierSettings(max_chars_per_part=1000)


def _read(media_type: str, content: bytes, source: str = "attachment 1 x") -> tuple[list[tuple[str, str]], str | None]:
    reading = read_part("attachment", media_type, "c1", source, content, SETTINGS, 10)
    return [(s.source, s.text) for s in reading.sections], reading.unreadable


def test_docx_attachment_sections_say_where_each_paragraph_sits() -> None:
    sections, unreadable = _read(DOCX, office.docx(["Hello", AT_RISK]), "attachment 1 letters.zip / statement.docx")
    assert sections == [
        ("attachment 1 letters.zip / statement.docx, paragraph 1", "Hello"),
        ("attachment 1 letters.zip / statement.docx, paragraph 2", AT_RISK),
    ]
    assert unreadable is None


def test_each_web_form_field_is_its_own_piece_so_a_passage_names_its_field() -> None:
    """issue 13: a passage says where it was found; a message is read apart from the name and CRN fields."""
    fields = {"name": "Sam Citizen", "crn": "123456789A", "message": "please call me back"}
    content = json.dumps({"form_type": "contact_us", "fields": fields}).encode()
    reading = read_part("form_fields", "application/json", "c0", "form fields", content, ClassifierSettings(), 10)
    assert [(s.source, s.text) for s in reading.sections] == [
        ("form fields, field name", "name: Sam Citizen"),
        ("form fields, field crn", "crn: 123456789A"),
        ("form fields, field message", "message: please call me back"),
    ]
    assert reading.form_type == "contact_us"
    result = classify(ItemText("webform", form_type="contact_us", sections=reading.sections))
    assert result.identifiers.crn == ["123456789A"]


def test_damaged_docx_attachment_is_reported_unreadable() -> None:
    sections, unreadable = _read(DOCX, b"PK\x03\x04broken")
    assert sections == [] and unreadable and "docx" in unreadable


def test_csv_and_html_attachments_are_read_as_text() -> None:
    assert _read("text/csv", b"name,note\nx,hello")[0] == [("attachment 1 x", "name,note\nx,hello")]
    html = b"<html><body><p>Hello <b>there</b></p><script>var x = 1;</script></body></html>"
    sections, _ = _read("text/html", html)
    assert "Hello" in sections[0][1] and "var x" not in sections[0][1]


def test_text_attachment_is_capped() -> None:
    assert len(_read("text/plain", b"x" * 5000)[0][0][1]) == 1000


def test_text_in_windows_1252_or_utf16_is_decoded() -> None:
    assert decode_text("caf\u00e9".encode("cp1252")) == "caf\u00e9"
    assert decode_text("\ufeffhello".encode("utf-16-le")) == "hello"


def test_a_file_with_no_reader_is_reported_unreadable_and_an_empty_one_is_not() -> None:
    assert _read("application/octet-stream", b"\x00\x01\x02")[1] == "no reader for application/octet-stream files"
    assert _read("application/x-empty", b"") == ([], None)


def test_a_damaged_pdf_attachment_is_reported_unreadable() -> None:
    assert _read("application/pdf", b"%PDF-1.4 not really")[1] == "the PDF could not be opened"


def test_attachments_past_the_page_budget_are_reported_unreadable() -> None:
    reading = read_part("attachment", "application/pdf", "c1", "attachment 1", b"%PDF", SETTINGS, 0)
    assert reading.unreadable == "the item's page limit was reached"


def test_a_page_ocr_could_barely_read_is_reported_unchecked_so_a_person_reads_it() -> None:
    """Issue 13 "no silent path": OCR below the threshold cannot vouch for the at-risk check."""
    pages = [
        PageReading("part-1", 1, "Dear Sir, please find my form enclosed.", 91.0, 0.05),
        PageReading("part-1", 2, "~ ,. ll1 ;' rn: ^^ ill ,.", 22.0, 0.08),
        PageReading("part-1", 3, "", 0.0, 0.0),  # blank: nothing to misread
    ]
    result = classify(ItemText(channel="scan", pages=pages), unreadable_below=40.0)
    assert result.unchecked == ["part-1 page 2 (OCR confidence 22 under 40: may be misread)"]
    assert classify(ItemText(channel="scan", pages=pages), unreadable_below=10.0).unchecked == []


def test_a_worker_reading_a_part_given_as_bytes_imports_no_database_or_http_client() -> None:
    """issue 18: a worker imports what its task needs; the spool, the blob store and their clients
    (about 0.35 s of CPU at each worker's start) only come with a part too large to send as bytes."""
    import subprocess
    import sys

    probe = (
        "import pickle, sys\n"
        "from mailintake_classifier.adapters.parts import read_part\n"
        "from mailintake_classifier.settings import ClassifierSettings\n"
        "reading = read_part('text_body', 'text/plain', 'p1', 'body 1', b'Hello', ClassifierSettings(), 10)\n"
        "pickle.dumps(reading)\n"
        "print(sorted(m for m in ('sqlalchemy', 'httpx', 'asyncpg', 'mailintake_common.spool') if m in sys.modules))\n"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
