"""Archive bombs are held on what they declare, before anything is extracted (SPEC 5: archive
bombs, ratio, depth and file-count limits; issue 15). Pure rules first, then real archives."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import lzma
import time

import pytest

from mailintake_quarantine.adapters.inspector import ContentInspector
from mailintake_quarantine.domain.contents import Archive, Member
from mailintake_quarantine.domain.expansion import container_refusal, declared_refusal, read_cap
from mailintake_quarantine.domain.screening import InputPart, Screening, screen_item
from tests.factories import office_documents as office
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import LIMITS, MiB, rules, screen_attachment

SMALL = dataclasses.replace(LIMITS, max_total_bytes=10 * MiB, max_member_bytes=4 * MiB, max_files=20)


def member(size: int, compressed: int = 0) -> Member:
    return Member("m", size, compressed, None)


def test_a_member_declaring_more_than_the_member_limit_is_refused() -> None:
    refused = declared_refusal([member(100), member(5 * MiB, 5 * MiB)], 6 * MiB, 0, 0, SMALL)
    assert refused is not None and (refused.rule, refused.member) == ("archive_bomb", 2)


def test_members_that_together_exceed_the_item_budget_are_refused_before_any_is_read() -> None:
    three = [member(4 * MiB, 4 * MiB)] * 3
    assert declared_refusal(three[:2], 8 * MiB, 0, 0, SMALL) is None
    refused = declared_refusal(three, 12 * MiB, 0, 0, SMALL)
    assert refused is not None and refused.rule == "archive_bomb" and refused.member is None
    assert declared_refusal(three[:2], 8 * MiB, 0, 3 * MiB, SMALL) is not None  # earlier archives used the budget


def test_a_member_ratio_or_a_whole_archive_ratio_over_the_limit_is_refused() -> None:
    assert declared_refusal([member(1 * MiB, 1000)], 2000, 0, 0, SMALL) is not None
    # solid 7z: no per-member compressed size, only the archive's own size
    refused = declared_refusal([member(1 * MiB), member(1 * MiB)], 10_000, 0, 0, SMALL)
    assert refused is not None and "as a whole" in refused.detail


def test_the_file_count_counts_every_archive_of_the_item() -> None:
    refused = declared_refusal([member(1, 1)] * 5, 100, 16, 0, SMALL)
    assert refused is not None and refused.rule == "archive_file_count"


def test_a_member_is_read_to_one_byte_past_what_it_declares() -> None:
    assert read_cap(member(1000), 0, SMALL) == 1001
    assert read_cap(member(4 * MiB), 8 * MiB, SMALL) == 2 * MiB + 1


def test_office_parts_get_the_size_limits_but_not_the_ratio() -> None:
    assert container_refusal([member(3 * MiB, 1000)], 0, SMALL) is None
    assert container_refusal([member(5 * MiB, 1000)], 0, SMALL) is not None


class RecordingInspector(ContentInspector):
    """The real inspector, noting which archive members were read."""

    def __init__(self) -> None:
        self.reads: list[str | None] = []

    def open_archive(self, kind: str, data: bytes) -> Archive:
        archive = super().open_archive(kind, data)
        for m in archive.members:
            if m.read is not None:
                m.read = self._recorded(m.name, m.read)
        return archive

    def _recorded(self, name, read):  # type: ignore[no-untyped-def]
        def wrapped(at_most: int) -> bytes:
            self.reads.append(name)
            return read(at_most)

        return wrapped


def screen_with(inspector: ContentInspector, name: str, content: bytes, limits=SMALL) -> Screening:  # type: ignore[no-untyped-def]
    return screen_item([InputPart("p1", "attachment", content, name, "application/zip")], inspector, limits)


def test_nothing_is_extracted_when_a_later_member_breaks_the_limits() -> None:
    archive = files.zip_of({"a.txt": b"first letter", "b.txt": b"second letter", "c.bin": b"\0" * (5 * MiB)})
    inspector = RecordingInspector()
    result = screen_with(inspector, "letters.zip", archive)
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)
    assert inspector.reads == []


def test_a_nested_zip_bomb_is_held_in_well_under_a_second() -> None:
    bomb = files.nested_zip_bomb()
    assert len(bomb) < 64 * 1024
    started = time.monotonic()
    result = screen_attachment("statement.zip", bomb)
    assert time.monotonic() - started < 5
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)
    assert result.cleared == []


def test_a_solid_7z_bomb_is_held_without_extracting_a_member() -> None:
    bomb = files.sevenzip_bomb(members=8, member_bytes=16 * MiB)  # 128 MiB of zeros, each member small
    inspector = RecordingInspector()
    result = screen_with(inspector, "scans.7z", bomb)
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)
    assert inspector.reads == []


def test_a_7z_within_the_limits_is_extracted_and_screened() -> None:
    archive = files.plain_7z({"letter.txt": b"Please update my address.", "run.exe": files.windows_exe()})
    result = screen_with(ContentInspector(), "letters.7z", archive)
    assert result.verdict == "quarantined" and "executable" in rules(result)
    assert "archive_bomb" not in rules(result)


def test_a_gzip_that_expands_past_its_declared_size_is_held() -> None:
    lying = bytearray(gzip.compress(b"\0" * (2 * MiB)))
    lying[-4:] = (100).to_bytes(4, "little")  # the trailer claims 100 bytes
    result = screen_with(ContentInspector(), "data.gz", bytes(lying), LIMITS)
    assert "archive_bomb" in rules(result)
    assert any("beyond what it declares" in f.detail for f in result.findings)


def test_a_gzip_whose_ratio_is_too_high_is_held_before_reading() -> None:
    inspector = RecordingInspector()
    result = screen_with(inspector, "data.gz", gzip.compress(b"\0" * (8 * MiB)), LIMITS)
    assert "archive_bomb" in rules(result) and inspector.reads == []


def test_a_tar_member_over_the_member_limit_is_held_before_any_member_is_read() -> None:
    archive = files.tar_of({"letter.txt": b"Dear officer", "scan.bin": b"\0" * (5 * MiB)})
    inspector = RecordingInspector()
    result = screen_with(inspector, "letters.tar", archive)
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)
    assert inspector.reads == []


def test_a_sparse_tar_declaring_a_gigabyte_is_held_unread() -> None:
    """A GNU sparse member: 10 KB on the wire, 1 GiB of zeros when read."""
    bomb = files.sparse_tar("scan.tif", 1024 * MiB)
    assert len(bomb) < 64 * 1024
    inspector = RecordingInspector()
    result = screen_with(inspector, "scans.tar", bomb, LIMITS)
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)
    assert inspector.reads == []


def test_a_tar_gz_of_zeros_is_held_at_the_gzip_before_the_tar_is_read() -> None:
    bomb = gzip.compress(files.tar_of({"scan.bin": b"\0" * (8 * MiB)}))
    inspector = RecordingInspector()
    result = screen_with(inspector, "scans.tar.gz", bomb, LIMITS)
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)
    assert inspector.reads == []


def test_tar_members_that_together_exceed_the_item_budget_are_held_unread() -> None:
    archive = files.tar_of({f"page{n}.bin": bytes([n]) * (3 * MiB) for n in range(4)})  # 12 MiB, 3 a member
    inspector = RecordingInspector()
    result = screen_with(inspector, "pages.tar", archive)
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)
    assert inspector.reads == []


@pytest.mark.parametrize("limit", [1 * MiB])
def test_an_office_document_with_an_oversized_part_is_held_unread(limit: int) -> None:
    filler = "".join(f"Payment {n} received on time. " for n in range(60_000))  # about 2 MB of text
    document = office.docx([filler])
    limits = dataclasses.replace(LIMITS, max_member_bytes=limit)
    result = screen_with(ContentInspector(), "letter.docx", document, limits)
    assert result.verdict == "quarantined" and "archive_bomb" in rules(result)


def test_ordinary_archives_are_still_opened() -> None:
    archive = files.zip_of({"letter.txt": b"Dear officer, please find my payslips.", "payslip.pdf": files.plain_pdf()})
    result = screen_with(ContentInspector(), "payslips.zip", archive)
    assert result.verdict == "clear" and [c.filename for c in result.cleared] == ["letter.txt", "payslip.pdf"]


@pytest.mark.parametrize(
    ("name", "compress"), [("letters.tar.xz", lzma.compress), ("letters.tar.bz2", bz2.compress)], ids=["xz", "bzip2"]
)
def test_compressed_formats_that_are_not_opened_are_held_as_unscreenable(name: str, compress) -> None:  # type: ignore[no-untyped-def]
    """seed 001 line 64 (possible harmful content): what cannot be screened is not cleared."""
    result = screen_attachment(name, compress(files.tar_of({"run.exe": files.windows_exe()})))
    assert result.verdict == "quarantined" and rules(result) == {"unreadable_archive"}
