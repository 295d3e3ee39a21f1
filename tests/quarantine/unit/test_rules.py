"""Every screening rule of SPEC 5 on files the tests build themselves."""

from __future__ import annotations

import io
import zipfile

import pytest

from mailintake_quarantine.adapters.inspector import ContentInspector
from mailintake_quarantine.domain.rules import size_limit_applies
from mailintake_quarantine.domain.screening import InputPart, screen_item
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import LIMITS, MiB, rules, screen_attachment, screen_email

# -- size --------------------------------------------------------------------------------


def test_email_over_8mb_goes_to_manual_adjustment() -> None:
    raw = files.email_with(
        [
            ("a.txt", b"x" * (3 * MiB), "text/plain"),
            ("b.txt", b"y" * (3 * MiB), "text/plain"),
            ("c.txt", b"z" * (3 * MiB), "text/plain"),
        ]
    )
    result = screen_email(raw)
    assert result.verdict == "manual_adjustment"
    assert rules(result) == {"email_over_limit"}


def test_attachment_over_4mb_goes_to_manual_adjustment() -> None:
    result = screen_email(files.email_with([("scan.pdf", b"%PDF-1.4\n" + b"0" * (5 * MiB), "application/pdf")]))
    assert result.verdict == "manual_adjustment"
    assert "attachment_over_limit" in rules(result)


def test_items_held_for_size_clear_everything_readable() -> None:
    # issue 13: items held for size still get the at-risk check on everything readable
    raw = files.email_with([("scan.pdf", b"%PDF-1.4\n" + b"0" * (5 * MiB), "application/pdf")], body="CRN 123")
    result = screen_email(raw)
    assert [c.kind for c in result.cleared] == ["text_body", "attachment"]
    assert b"CRN 123" in result.cleared[0].content


def test_harmful_beats_size() -> None:
    raw = files.email_with(
        [
            ("big.bin", b"\0" * (5 * MiB), "application/octet-stream"),
            ("run.exe", files.windows_exe(), "application/octet-stream"),
        ]
    )
    assert screen_email(raw).verdict == "quarantined"


def test_a_waived_size_limit_clears_an_adjusted_item() -> None:
    raw = files.email_with([("scan.pdf", b"%PDF-1.4\n" + b"0" * (5 * MiB), "application/pdf")])
    assert screen_email(raw, waive_size=True).verdict == "clear"


def test_which_parts_the_size_limits_apply_to() -> None:
    """Seed 001 line 54: emails over 8 MB and attachments over 4 MB, as received by the mailboxes.

    Scanner output, attached emails (the outer email carries the limit) and released items are exempt.
    """
    assert size_limit_applies("email", waived=False) and size_limit_applies("attachment", waived=False)
    assert not size_limit_applies("email", waived=False, outermost=False)
    assert size_limit_applies("attachment", waived=False, outermost=False)
    assert not size_limit_applies("scan", waived=False)
    assert not size_limit_applies("attachment", waived=True) and not size_limit_applies("email", waived=True)


def test_a_big_scan_is_not_held_for_size() -> None:
    """Seed 001 line 54 is about mailboxes: a multi-page TIFF from the agency's scanner is not adjusted."""
    tiff = b"II*\x00" + b"\x00" * (5 * MiB)
    result = screen_item([InputPart("p0", "scan", tiff, "batch.tif", "image/tiff")], ContentInspector(), LIMITS)
    assert "attachment_over_limit" not in rules(result)


# -- encrypted ---------------------------------------------------------------------------


@pytest.mark.parametrize("build", [files.zipcrypto_zip, files.aes_zip], ids=["zipcrypto", "aes"])
def test_password_zip_is_quarantined(build) -> None:
    result = screen_attachment("docs.zip", build(), "application/zip")
    assert result.verdict == "quarantined" and "encrypted_archive" in rules(result)


@pytest.mark.parametrize("header_encryption", [False, True], ids=["content", "headers"])
def test_encrypted_7z_is_quarantined(header_encryption: bool) -> None:
    result = screen_attachment("docs.7z", files.encrypted_7z(header_encryption), "application/x-7z-compressed")
    assert "encrypted_archive" in rules(result)


def test_encrypted_pdf_is_quarantined() -> None:
    assert "encrypted_pdf" in rules(screen_attachment("letter.pdf", files.encrypted_pdf(), "application/pdf"))


def test_plain_pdf_is_clear_and_cleared() -> None:
    result = screen_attachment("letter.pdf", files.plain_pdf(), "application/pdf")
    assert result.verdict == "clear"
    assert [(c.kind, c.media_type) for c in result.cleared] == [("attachment", "application/pdf")]


def test_smime_enveloped_email_is_quarantined() -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.org", "secure"
    msg.set_content(
        b"\x30\x82\x01\x00 enveloped",
        maintype="application",
        subtype="pkcs7-mime",
        params={"smime-type": "enveloped-data", "name": "smime.p7m"},
    )
    assert "smime_encrypted" in rules(screen_email(msg.as_bytes()))


def test_pgp_messages_are_quarantined_inline_and_as_mime() -> None:
    inline = files.email_with([], body="-----BEGIN PGP MESSAGE-----\nhQEMA...\n-----END PGP MESSAGE-----\n")
    assert "pgp_encrypted" in rules(screen_email(inline))
    mime = (
        b'From: a@example.org\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
        b'boundary="b"\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n--b--\r\n"
    )
    assert "pgp_encrypted" in rules(screen_email(mime))


@pytest.mark.parametrize("lead", [b"", b"\r\n\r\n", b" \t\x0b\x0c" * 40])
def test_an_armoured_pgp_file_is_quarantined_after_any_leading_whitespace(lead: bytes) -> None:
    """Issue 18 reads the armour without copying the file: leading whitespace of any length still counts."""
    armoured = lead + b"-----BEGIN PGP MESSAGE-----\n\nhQEMA3x...\n-----END PGP MESSAGE-----\n"
    assert "pgp_encrypted" in rules(screen_attachment("reply.asc", armoured))
    assert "pgp_encrypted" not in rules(screen_attachment("note.txt", b"x" + armoured))


# -- media -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "build"), [("voice.dat", files.wav_audio), ("clip.pdf", files.mp4_video)])
def test_audio_and_video_are_quarantined_by_content(name: str, build) -> None:
    result = screen_attachment(name, build())
    assert result.verdict == "quarantined" and "media" in rules(result)


# -- harmful -----------------------------------------------------------------------------


@pytest.mark.parametrize("build", [files.windows_exe, files.linux_elf, files.macho], ids=["pe", "elf", "macho"])
def test_executables_of_every_platform_are_quarantined_whatever_their_name(build) -> None:
    result = screen_attachment("photo.jpg", build(), "image/jpeg")
    assert "executable" in rules(result)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("run.sh", b"#!/bin/sh\nrm -rf /tmp/x\n"),
        ("go.bat", b"@echo off\r\ndel c:\\x\r\n"),
        ("go.ps1", b"Invoke-Expression (New-Object System.Net.WebClient).DownloadString('x')\n"),
        ("go.vbs", b'Set s = CreateObject("WScript.Shell")\n'),
        ("go.js", b"var s = new ActiveXObject('WScript.Shell');\n"),
        ("page.hta", b"<html><head><HTA:APPLICATION id=x></head></html>"),
        ("notes.txt", b"@echo off\r\nformat c:\r\n"),
    ],
)
def test_scripts_are_quarantined(name: str, content: bytes) -> None:
    assert "script" in rules(screen_attachment(name, content, "text/plain"))


def test_ooxml_with_vba_project_is_quarantined_and_without_it_is_clear() -> None:
    assert "office_macro" in rules(screen_attachment("a.docm", files.docx(with_macros=True)))
    assert screen_attachment("a.docx", files.docx()).verdict == "clear"


@pytest.mark.parametrize(
    ("name", "build", "rule"),
    [
        ("link.lnk", files.windows_shortcut, "shortcut"),
        ("disk.iso", files.iso_image, "disk_image"),
        ("setup.msi", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "installer"),
    ],
)
def test_shortcuts_disk_images_and_installers_are_quarantined(name: str, build, rule: str) -> None:
    assert rule in rules(screen_attachment(name, build()))


def test_declared_type_that_disagrees_with_content_is_quarantined() -> None:
    result = screen_attachment("letter.pdf", files.small_png(), "application/pdf")
    assert "type_mismatch" in rules(result)


def test_extension_that_disagrees_with_content_is_quarantined() -> None:
    assert "type_mismatch" in rules(screen_attachment("letter.pdf", files.small_png()))


def test_matching_types_are_not_a_mismatch() -> None:
    assert screen_attachment("photo.png", files.small_png(), "image/png").verdict == "clear"


def test_double_extension_and_right_to_left_override_are_quarantined() -> None:
    assert "double_extension" in rules(screen_attachment("invoice.pdf.exe", b"%PDF-1.4 not really"))
    assert "rtl_override" in rules(screen_attachment("invoice\u202efdp.exe", b"hello"))


def test_eicar_is_quarantined_in_attachments_and_bodies() -> None:
    assert "eicar" in rules(screen_attachment("test.txt", files.EICAR, "text/plain"))
    assert "eicar" in rules(screen_email(files.email_with([], body=files.EICAR.decode())))


# -- archives ----------------------------------------------------------------------------


def test_archives_are_opened_and_anything_harmful_inside_quarantines_the_whole_item() -> None:
    inner = files.zip_of({"readme.txt": b"hello", "tool.exe": files.windows_exe()})
    outer = files.zip_of({"docs/inner.zip": inner})
    result = screen_email(files.email_with([("docs.zip", outer, "application/zip")]))
    assert result.verdict == "quarantined"
    assert any(f.rule == "executable" and "member" in f.part for f in result.findings)


def test_clean_archive_is_clear() -> None:
    assert (
        screen_attachment("docs.zip", files.zip_of({"a.txt": b"hello", "b.pdf": files.plain_pdf()})).verdict == "clear"
    )


def test_7z_members_are_screened() -> None:
    archive = files.plain_7z({"a.txt": b"hello", "run.sh": b"#!/bin/sh\necho hi\n"})
    assert "script" in rules(screen_attachment("a.7z", archive, "application/x-7z-compressed"))


def test_compression_ratio_bomb_is_quarantined() -> None:
    bomb = files.zip_of({"zeros.txt": b"\0" * (20 * MiB)})
    assert "archive_bomb" in rules(screen_attachment("z.zip", bomb))


def test_total_expansion_limit_is_enforced() -> None:
    from dataclasses import replace

    archive = files.zip_of({f"f{i}.bin": bytes(range(256)) * 4096 for i in range(3)}, zipfile.ZIP_STORED)
    small = replace(LIMITS, max_total_bytes=2 * MiB)
    result = screen_item(
        [InputPart("p1", "attachment", archive, "a.zip", None)],
        __import__("mailintake_quarantine.adapters.inspector", fromlist=["x"]).ContentInspector(),
        small,
    )
    assert "archive_bomb" in rules(result)


def test_nesting_beyond_the_depth_limit_is_quarantined() -> None:
    nested = files.zip_of({"a.txt": b"deep"})
    for level in range(4):
        nested = files.zip_of({f"level{level}.zip": nested})
    assert "archive_depth" in rules(screen_attachment("n.zip", nested))


def test_too_many_files_is_quarantined() -> None:
    many = files.zip_of({f"f{i}.txt": b"x" for i in range(1001)})
    assert "archive_file_count" in rules(screen_attachment("m.zip", many))


def test_attached_email_is_screened_recursively() -> None:
    inner = files.email_with([("run.exe", files.windows_exe(), "application/octet-stream")])
    from email.message import EmailMessage

    outer = EmailMessage()
    outer["From"], outer["Subject"] = "a@example.org", "Fwd"
    outer.set_content("forwarding")
    outer.add_attachment(inner, maintype="message", subtype="rfc822")
    result = screen_email(outer.as_bytes())
    assert result.verdict == "quarantined" and "executable" in rules(result)


# -- images ------------------------------------------------------------------------------


def test_image_declaring_too_many_pixels_is_refused_before_decoding() -> None:
    result = screen_item(
        [InputPart("p0", "scan", files.png_header(20000, 20000), "s.png", "image/png")],
        __import__("mailintake_quarantine.adapters.inspector", fromlist=["x"]).ContentInspector(),
        LIMITS,
    )
    assert result.verdict == "quarantined" and "image_too_large" in rules(result)


def test_scan_is_cleared_as_scan() -> None:
    result = screen_item(
        [InputPart("p0", "scan", files.small_png(), "s.png", "image/png")],
        __import__("mailintake_quarantine.adapters.inspector", fromlist=["x"]).ContentInspector(),
        LIMITS,
    )
    assert result.verdict == "clear" and [c.kind for c in result.cleared] == ["scan"]


# -- malformed and facts -----------------------------------------------------------------


def test_malformed_email_is_screened_as_far_as_readable() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: broken\r\nContent-Type: multipart/mixed\r\n\r\n"
        b"no boundary here\r\n--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n"
    )
    result = screen_email(raw)
    assert result.verdict in ("clear", "quarantined", "manual_adjustment")
    assert "malformed_email" in rules(result)


def test_email_facts_come_from_headers() -> None:
    raw = files.email_with([], sender="Someone <Some.One@Example.ORG>", Auto_Submitted="auto-replied")
    facts = screen_email(raw).email
    assert facts is not None
    assert facts.from_address == "some.one@example.org"
    assert facts.auto_submitted == "auto-replied"


def test_findings_never_quote_file_names() -> None:
    result = screen_attachment("Jane Citizen tax return.pdf.exe", files.windows_exe())
    assert all("Jane" not in f.detail for f in result.findings)


def test_zip_bytes_named_docx_but_not_office_are_screened_as_archives() -> None:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("payload.exe", files.windows_exe())
    assert "executable" in rules(screen_attachment("letter.docx", data.getvalue()))


def test_scanner_files_are_exempt_from_the_mailbox_size_limits() -> None:
    from mailintake_quarantine.adapters.inspector import ContentInspector

    big_scan = files.png_header(2000, 2000) + b"\0" * (5 * MiB)
    result = screen_item([InputPart("p0", "scan", big_scan, "s.png", "image/png")], ContentInspector(), LIMITS)
    assert "attachment_over_limit" not in rules(result)
    assert "attachment_over_limit" in rules(screen_attachment("s.png", big_scan, "image/png"))


def test_a_generic_bin_file_is_not_an_executable_by_name() -> None:
    assert "executable" not in rules(screen_attachment("photos.bin", b"\0" * 1000))


@pytest.mark.parametrize(
    "content",
    [
        b"$url = 'http://x'; Start-Process notepad\r\n",
        b"Set-ExecutionPolicy Bypass -Scope Process\r\n",
        b"powershell.exe -EncodedCommand SQBFAFgA\r\n",
        b'Set o = WScript.CreateObject("x")\r\n',
    ],
)
def test_scripts_saved_as_text_are_recognised_by_their_idioms(content: bytes) -> None:
    assert "script" in rules(screen_attachment("notes.txt", content, "text/plain"))


def test_an_ordinary_letter_is_not_a_script() -> None:
    letter = b"Dear officer, please process my change of address. I will start the process next week.\r\n"
    assert screen_attachment("letter.txt", letter, "text/plain").verdict == "clear"
