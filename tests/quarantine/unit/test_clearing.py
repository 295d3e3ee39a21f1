"""What screening clears for reading, and where each cleared part sits (issue 13).

Every readable file at any depth is cleared when nothing quarantine-class was found, each with
a `source` label of positions and filenames; held-for-size items clear the same; quarantined
items clear only their text bodies and form fields.
"""

from __future__ import annotations

from zipfile import ZIP_STORED

from mailintake_quarantine.domain.findings import Finding, content_cleared_for_reading
from mailintake_quarantine.domain.screening import Screening
from tests.factories import documents
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import MiB, rules, screen_attachment, screen_email

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def sources(result: Screening) -> list[tuple[str, str | None]]:
    return [(c.kind, c.source) for c in result.cleared]


def test_zip_members_are_cleared_in_order_with_their_place_in_the_item() -> None:
    archive = files.zip_of({"statement.txt": b"my statement", "docs/letter.pdf": files.plain_pdf()})
    result = screen_email(files.email_with([("letters.zip", archive, "application/zip")]))
    assert result.verdict == "clear"
    assert sources(result) == [
        ("text_body", "body 1"),
        ("attachment", "attachment 1 letters.zip / statement.txt"),
        ("attachment", "attachment 1 letters.zip / docs/letter.pdf"),
    ]
    assert result.cleared[1].content == b"my statement"
    assert [c.part_id for c in result.cleared] == ["c0", "c1", "c2"]


def test_nested_archives_tar_and_gzip_members_are_cleared() -> None:
    inner = files.tar_of({"note.txt": b"inner note"})
    # stored, not deflated: a tar of one short file is mostly padding and would deflate like a bomb
    archive = files.zip_of({"bundle.tar": inner, "extra.txt.gz": files.gzip_of(b"gzipped note")}, ZIP_STORED)
    result = screen_attachment("all.zip", archive, "application/zip")
    assert result.verdict == "clear"
    assert sources(result) == [
        ("attachment", "attachment 1 all.zip / bundle.tar / note.txt"),
        ("attachment", "attachment 1 all.zip / extra.txt.gz / member 1"),
    ]
    assert [c.content for c in result.cleared] == [b"inner note", b"gzipped note"]


def test_seven_zip_members_are_cleared() -> None:
    result = screen_attachment("a.7z", files.plain_7z({"note.txt": b"seven"}), "application/x-7z-compressed")
    assert sources(result) == [("attachment", "attachment 1 a.7z / note.txt")]


def test_attachments_of_a_forwarded_email_are_cleared_with_its_bodies() -> None:
    raw = documents.forwarded_email(
        [("payslip.pdf", files.plain_pdf(), "application/pdf"), ("note.txt", b"a note", "text/plain")]
    )
    result = screen_email(raw)
    assert result.verdict == "clear"
    assert sources(result) == [
        ("text_body", "body 1"),
        ("text_body", "attached email / body 1"),
        ("attachment", "attached email / attachment 1 payslip.pdf"),
        ("attachment", "attached email / attachment 2 note.txt"),
    ]


def test_attachments_of_an_attached_eml_file_are_cleared() -> None:
    raw = documents.forwarded_email([("note.txt", b"a note", "text/plain")], as_eml_file=True)
    result = screen_email(raw)
    assert result.verdict == "clear"
    assert ("attachment", "attachment 1 fwd.eml / attachment 1 note.txt") in sources(result)
    assert ("text_body", "attachment 1 fwd.eml / body 1") in sources(result)


def test_a_second_forwarded_email_is_numbered() -> None:
    from email import message_from_bytes, policy

    first = message_from_bytes(documents.forwarded_email([("a.txt", b"a", "text/plain")]), policy=policy.default)
    second = message_from_bytes(documents.email_bytes(body="second"), policy=policy.default)
    first.add_attachment(second)  # type: ignore[attr-defined]
    result = screen_email(first.as_bytes())
    assert ("text_body", "attached email 2 / body 1") in sources(result)


def test_source_labels_hold_names_but_no_control_characters() -> None:
    result = screen_attachment("odd\nname\t.txt", b"hello", "text/plain")
    assert sources(result) == [("attachment", "attachment 1 odd name .txt")]


def test_an_item_held_for_size_clears_everything_readable() -> None:
    big = files.plain_pdf() + b"%" + b"0" * (5 * MiB)
    archive = files.zip_of({"statement.txt": b"my statement"})
    raw = files.email_with([("scan.pdf", big, "application/pdf"), ("letters.zip", archive, "application/zip")])
    result = screen_email(raw)
    assert result.verdict == "manual_adjustment" and rules(result) == {"attachment_over_limit"}
    assert sources(result) == [
        ("text_body", "body 1"),
        ("attachment", "attachment 1 scan.pdf"),
        ("attachment", "attachment 2 letters.zip / statement.txt"),
    ]


def test_an_email_over_the_size_limit_clears_everything_readable() -> None:
    raw = files.email_with([(f"{n}.txt", b"x" * (3 * MiB), "text/plain") for n in "abc"])
    result = screen_email(raw)
    assert result.verdict == "manual_adjustment" and rules(result) == {"email_over_limit"}
    assert [c.kind for c in result.cleared] == ["text_body", "attachment", "attachment", "attachment"]


def test_a_quarantined_item_clears_only_its_bodies_even_when_also_over_size() -> None:
    archive = files.zip_of({"statement.txt": b"my statement", "run.exe": files.windows_exe()})
    raw = files.email_with(
        [
            ("big.pdf", files.plain_pdf() + b"%" + b"0" * (5 * MiB), "application/pdf"),
            ("a.zip", archive, "application/zip"),
        ]
    )
    result = screen_email(raw)
    assert result.verdict == "quarantined"
    assert sources(result) == [("text_body", "body 1")]


def test_a_quarantined_forwarded_email_clears_only_bodies() -> None:
    raw = documents.forwarded_email([("statement.docx", files.docx(with_macros=True), DOCX)])
    result = screen_email(raw)
    assert result.verdict == "quarantined" and "office_macro" in rules(result)
    assert sources(result) == [("text_body", "body 1"), ("text_body", "attached email / body 1")]


def test_content_is_cleared_for_reading_unless_something_quarantine_class_was_found() -> None:
    size = Finding("attachment 1", "attachment_over_limit", "big")
    note = Finding("email", "malformed_email", "odd")
    harmful = Finding("attachment 2", "executable", "a program")
    assert content_cleared_for_reading([])
    assert content_cleared_for_reading([size, note])
    assert not content_cleared_for_reading([size, harmful])
    assert not content_cleared_for_reading([Finding("attachment 1", "encrypted_pdf", "locked")])
