"""Rules checked on files built from their headers: image sizes read without decoding (JPEG SOF,
TIFF tags, PNG IHDR), RAR encryption flags, encrypted OOXML, and malformed emails that must be
screened as far as they can be read, with what could not be read recorded as a finding."""

from __future__ import annotations

import json
import struct
from email.message import EmailMessage

import pytest

from mailintake_quarantine.adapters.content import image_pixels
from mailintake_quarantine.adapters.inspector import ContentInspector
from mailintake_quarantine.domain.screening import InputPart, screen_item
from tests.factories import quarantine_files as files
from tests.factories import quarantine_headers as headers
from tests.quarantine.unit.conftest import LIMITS, rules, screen_attachment, screen_email

HUGE = 20_000  # 20000 x 20000 = 4e8 pixels, over the 1e8 limit
BUILDERS = {"png": files.png_header, "jpeg": headers.jpeg_header, "tiff": headers.tiff_header}


def _scan(content: bytes, name: str, media_type: str):
    return screen_item([InputPart("p0", "scan", content, name, media_type)], ContentInspector(), LIMITS)


# -- images: refused from the header, before any pixel is decoded ---------------------------


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_image_header_declaring_too_many_pixels_is_quarantined(kind: str) -> None:
    result = _scan(BUILDERS[kind](HUGE, HUGE), f"scan.{kind}", f"image/{kind}")
    assert result.verdict == "quarantined" and "image_too_large" in rules(result)
    assert result.cleared == [] or all(c.kind != "scan" for c in result.cleared)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_image_header_pixels_are_read_without_decoding(kind: str) -> None:
    assert image_pixels(BUILDERS[kind](1234, 567)) == 1234 * 567


def test_jpeg_density_is_not_mistaken_for_its_dimensions() -> None:
    description = "JPEG image data, JFIF standard 1.01, density 1x1, baseline, precision 8, 20000x20000, components 3"
    assert image_pixels(b"", description) == HUGE * HUGE


def test_image_within_the_pixel_limit_is_not_refused() -> None:
    result = _scan(headers.jpeg_header(2480, 3508), "page.jpg", "image/jpeg")  # A4 at 300 dpi
    assert "image_too_large" not in rules(result)


def test_oversized_image_attached_to_an_email_quarantines_the_email() -> None:
    raw = files.email_with([("photo.jpg", headers.jpeg_header(HUGE, HUGE), "image/jpeg")])
    result = screen_email(raw)
    assert result.verdict == "quarantined" and "image_too_large" in rules(result)
    assert [c.kind for c in result.cleared] == ["text_body"]


# -- RAR: encryption from header flags, no unrar needed -----------------------------------


@pytest.mark.parametrize(("password", "encrypted_headers"), [(True, False), (False, True)], ids=["password", "headers"])
def test_encrypted_rar_is_quarantined_from_its_header_flags(password: bool, encrypted_headers: bool) -> None:
    result = screen_attachment("docs.rar", headers.rar3(password=password, encrypted_headers=encrypted_headers))
    assert result.verdict == "quarantined" and "encrypted_archive" in rules(result)


def test_rar_written_on_ms_dos_is_not_called_an_executable() -> None:
    result = screen_attachment("docs.rar", headers.rar3(password=True))
    assert "executable" not in rules(result)


def test_unencrypted_rar_is_held_because_its_content_cannot_be_screened() -> None:
    result = screen_attachment("docs.rar", headers.rar3())
    assert result.verdict == "quarantined" and rules(result) == {"unreadable_archive"}


def test_gzip_from_a_fat_file_system_is_opened_not_called_an_executable() -> None:
    result = screen_attachment("notes.gz", headers.gzip_from_fat(b"plain notes"))
    assert result.verdict == "clear" and "executable" not in rules(result)


def test_gzip_hiding_an_executable_is_quarantined() -> None:
    result = screen_attachment("notes.gz", headers.gzip_from_fat(files.windows_exe()))
    assert result.verdict == "quarantined" and "executable" in rules(result)


# -- encrypted Office built here (not only the corpus samples) -------------------------------


def test_password_protected_docx_is_quarantined_as_encrypted_office() -> None:
    encrypted = headers.encrypted_ooxml(files.docx())
    result = screen_attachment(
        "letter.docx", encrypted, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert result.verdict == "quarantined" and "encrypted_office" in rules(result)
    assert result.cleared == []


# -- nesting: anything held deep inside holds the whole item ----------------------------------


def test_encrypted_7z_inside_a_zip_inside_an_attached_email_quarantines_the_item() -> None:
    inner = EmailMessage()
    inner["From"] = "someone@example.org"
    inner.set_content("see the archive")
    inner.add_attachment(
        files.zip_of({"x.7z": files.encrypted_7z()}), maintype="application", subtype="zip", filename="a.zip"
    )
    outer = EmailMessage()
    outer["From"] = "parent@example.org"
    outer.set_content("forwarding")
    outer.add_attachment(inner)
    result = screen_email(outer.as_bytes())
    assert result.verdict == "quarantined" and "encrypted_archive" in rules(result)
    assert {c.kind for c in result.cleared} <= {"text_body", "html_body"}


def test_right_to_left_override_in_an_archive_member_name_is_quarantined() -> None:
    result = screen_attachment("docs.zip", files.zip_of({"invoice\u202etxt.exe": b"hello"}))
    assert result.verdict == "quarantined" and "rtl_override" in rules(result)


# -- malformed emails: read as far as possible, never crash, record what could not be read ------

MALFORMED = {
    "missing_boundary": b"From: a@example.org\r\nContent-Type: multipart/mixed\r\n\r\nhello\r\n",
    "unterminated_multipart": (
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    ),
    "bad_base64": (
        b"From: a@example.org\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!*\r\n"
    ),
    "odd_headers": (
        b"From: =?utf-8?B?!!!?= <a@example.org>\r\nSubject: \xff\xfe\x00\r\nTo: ;;;<<>>\r\n"
        b'Content-Type: text/plain; charset="utf-8\r\n\r\nbody\r\n'
    ),
    "nul_bytes": b"\x00\x00\x00\x00",
    "garbage_attached_email": (
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n\x00\xff garbage\r\n--b--\r\n"
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_email_is_screened_and_its_defects_are_a_finding(name: str) -> None:
    result = screen_email(MALFORMED[name])
    assert result.verdict in ("clear", "manual_adjustment", "quarantined")
    assert "malformed_email" in rules(result)


def test_body_in_an_unknown_character_set_is_read_and_recorded() -> None:
    raw = b"From: a@example.org\r\nContent-Type: text/plain; charset=x-nonexistent\r\n\r\nhello\r\n"
    result = screen_email(raw)
    assert "unreadable_part" in rules(result)
    assert [c.content.strip() for c in result.cleared if c.kind == "text_body"] == [b"hello"]


@pytest.mark.parametrize("raw", [b"", b"From: a@example.org"], ids=["empty", "headers_only"])
def test_emails_without_content_get_a_clear_verdict(raw: bytes) -> None:
    assert screen_email(raw).verdict == "clear"


def test_malformed_details_never_quote_the_message() -> None:
    result = screen_email(MALFORMED["odd_headers"])
    assert all("example.org" not in f.detail and f.detail != "body" for f in result.findings)


# -- web forms: fields always readable, attachments under the attachment limit -------------------

FIELDS = b'{"crn": "123456789A", "message": "new address"}'


def _web_form(attachment: bytes, name: str = "payslip.pdf"):
    parts = [
        InputPart("f", "form_fields", FIELDS, None, "application/json"),
        InputPart("a", "attachment", attachment, name, "application/pdf"),
    ]
    return screen_item(parts, ContentInspector(), LIMITS)


def test_web_form_attachment_over_the_limit_goes_to_manual_adjustment_with_everything_readable() -> None:
    big_pdf = files.plain_pdf() + b"%" + b"0" * (LIMITS.attachment_bytes + 1)
    result = _web_form(big_pdf)
    assert result.verdict == "manual_adjustment" and rules(result) == {"attachment_over_limit"}
    assert [(c.kind, c.content) for c in result.cleared] == [("form_fields", FIELDS), ("attachment", big_pdf)]


def test_web_form_with_a_harmful_attachment_is_quarantined_and_only_its_fields_are_cleared() -> None:
    result = _web_form(files.windows_exe(), "payslip.pdf")
    assert result.verdict == "quarantined" and {"executable", "type_mismatch"} <= rules(result)
    assert [c.kind for c in result.cleared] == ["form_fields"]


def test_clean_web_form_clears_fields_and_attachment() -> None:
    result = _web_form(files.plain_pdf())
    assert result.verdict == "clear"
    assert [c.kind for c in result.cleared] == ["form_fields", "attachment"]


def test_eicar_in_web_form_fields_is_quarantined() -> None:
    parts = [InputPart("f", "form_fields", b'{"message": "' + files.EICAR + b'"}', None, "application/json")]
    assert "eicar" in rules(screen_item(parts, ContentInspector(), LIMITS))


# -- email facts later stages can store ------------------------------------------------------


def test_header_facts_carry_no_nul_or_lone_surrogates() -> None:
    raw = b"From: A <A@Example.org>\r\nSubject: a\x00b \xed\xa0\x80\r\n\r\nhi\r\n"
    facts = screen_email(raw).email
    assert facts is not None and facts.from_address == "a@example.org"
    subject = str(facts.subject)
    assert "\x00" not in subject and subject.startswith("ab")
    subject.encode("utf-8")  # raises on a lone surrogate


def test_rfc2231_report_type_is_read_as_text() -> None:
    raw = (
        b"From: mailer-daemon@example.org\r\n"
        b"Content-Type: multipart/report; report-type*=us-ascii'en'delivery-status; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n--b--\r\n"
    )
    facts = screen_email(raw).email
    assert facts is not None
    assert (facts.content_type, facts.report_type) == ("multipart/report", "delivery-status")


def test_executable_declared_as_pdf_is_a_type_mismatch() -> None:
    result = screen_attachment("letter.pdf", files.windows_exe(), "application/pdf")
    assert {"executable", "type_mismatch"} <= rules(result)
    assert all("letter" not in f.detail for f in result.findings)


def test_zip_that_lies_about_its_expanded_size_is_held() -> None:
    data = bytearray(files.zip_of({"a.txt": b"\0" * (2 * 1024 * 1024)}))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        struct.pack_into("<I", data, data.find(signature) + size_at, 100)  # claims 100 bytes
    result = screen_attachment("a.zip", bytes(data), "application/zip")
    assert result.verdict == "quarantined"
    assert rules(result) & {"archive_bomb", "unreadable_archive"}


def test_eicar_in_a_form_field_as_intake_stores_it_is_quarantined() -> None:
    """The fields arrive as JSON, where the test string's backslash is escaped; it was cleared."""
    fields = json.dumps({"message": files.EICAR.decode(), "reference": "1234"}).encode()
    assert files.EICAR not in fields
    parts = [InputPart("f", "form_fields", fields, None, "application/json")]
    assert "eicar" in rules(screen_item(parts, ContentInspector(), LIMITS))
    clean = json.dumps({"message": "the EICAR-STANDARD-ANTIVIRUS-TEST-FILE name alone is harmless"}).encode()
    assert "eicar" not in rules(
        screen_item([InputPart("f", "form_fields", clean, None, "application/json")], ContentInspector(), LIMITS)
    )
