"""Parts that reach the screening worker as files are judged exactly as parts given as bytes,
and large cleared content goes back as a file or as the received part itself (issue 17)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from PIL import Image, ImageDraw

from mailintake_common.spool import PartContent, SpoolPlan
from mailintake_quarantine.adapters.spooled import SameAsInput, SpooledPart, screen_spooled
from mailintake_quarantine.domain.privacy import without_tfns
from tests.factories import quarantine_files as files
from tests.quarantine.unit.conftest import LIMITS, screen_attachment, screen_email

TFN = "492589913"  # a valid tax file number (checksum), as in test_privacy.py


def in_file(tmp_path: Path, name: str, content: bytes) -> PartContent:
    path = tmp_path / name
    path.write_bytes(content)
    return PartContent(len(content), path=str(path))


def plan(tmp_path: Path, threshold: int = 64 * 1024) -> SpoolPlan:
    return SpoolPlan(str(tmp_path / "spool"), threshold)


def big_scan() -> bytes:
    page = Image.new("L", (1700, 2200), 255)
    ImageDraw.Draw(page).text((100, 100), "Notice of assessment, page 1", fill=0)
    out = io.BytesIO()
    page.save(out, format="TIFF")  # uncompressed: about 3.7 MB
    return out.getvalue()


def test_a_scan_in_a_file_is_judged_as_before_and_cleared_as_the_received_part(tmp_path: Path) -> None:
    scan = big_scan()
    parts = [SpooledPart("p0", "scan", in_file(tmp_path, "part-1", scan), "batch 0042.tif", "image/tiff")]
    screened = screen_spooled(parts, LIMITS, False, plan(tmp_path))
    before = without_tfns(screen_attachment("batch 0042.tif", scan, "image/tiff"))
    assert screened.verdict == before.verdict == "clear"
    assert screened.screening.findings == before.findings
    assert screened.contents == [SameAsInput(0)]
    assert not (tmp_path / "spool").exists()  # nothing new was written for it


def test_an_attachment_decoded_out_of_a_large_email_comes_back_as_a_private_file(tmp_path: Path) -> None:
    # No "/" in the filler: random bytes that happen to spell "/JS " would make a PDF name for
    # JavaScript, and the statement would then be held as active content (about 1 run in 200).
    filler = os.urandom(2 * 1024 * 1024).replace(b"/", b"-")
    statement = b"%PDF-1.4\n" + filler + b"\n%%EOF\n"
    raw = files.email_with(
        [("payslips-march.pdf", statement, "application/pdf")],
        body="Hello, my payslips for March are attached. Kind regards, Jo",
    )
    parts = [SpooledPart("p0", "raw_email", in_file(tmp_path, "part-1", raw))]
    screened = screen_spooled(parts, LIMITS, False, plan(tmp_path))
    before = without_tfns(screen_email(raw))
    assert screened.verdict == before.verdict
    assert screened.screening.findings == before.findings
    assert [(c.kind, c.media_type, c.source) for c in screened.screening.cleared] == [
        (c.kind, c.media_type, c.source) for c in before.cleared
    ]
    body, attachment = screened.contents
    assert isinstance(body, PartContent) and body.path is None and body.read() == before.cleared[0].content
    assert isinstance(attachment, PartContent) and attachment.path is not None
    assert Path(attachment.path).parent == tmp_path / "spool"
    assert stat.S_IMODE(os.stat(attachment.path).st_mode) == 0o600
    assert attachment.read() == statement == before.cleared[1].content


def test_a_tax_file_number_in_a_large_cleared_text_file_is_masked_in_the_file(tmp_path: Path) -> None:
    ledger = ("date,amount,note\n" + "2024-03-01,120.00,weekly payment\n" * 80_000).encode()
    ledger += f"2024-03-08,120.00,my TFN is {TFN}\n".encode()
    parts = [SpooledPart("p1", "attachment", in_file(tmp_path, "part-1", ledger), "payments.csv", "text/csv")]
    screened = screen_spooled(parts, LIMITS, False, plan(tmp_path))
    (content,) = screened.contents
    assert isinstance(content, PartContent) and content.path is not None
    masked = content.read()
    assert TFN.encode() not in masked and masked.startswith(b"date,amount,note\n")
    assert masked == without_tfns(screen_attachment("payments.csv", ledger, "text/csv")).cleared[0].content
