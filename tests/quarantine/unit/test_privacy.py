"""Quarantine's stored and published copies carry no TFN (SPEC 5 Privacy; issue 14)."""

from __future__ import annotations

from mailintake_common.events import EmailFacts
from mailintake_quarantine.domain.findings import Finding
from mailintake_quarantine.domain.privacy import without_tfns
from mailintake_quarantine.domain.screening import Cleared, Screening

TFN = "492589913"


def test_subject_filenames_sources_findings_and_text_bodies_are_masked() -> None:
    screening = Screening(
        "clear",
        [Finding(f"attachment 1 tfn {TFN}.exe", "executable", f"attachment 1 tfn {TFN}.exe is a program")],
        [
            Cleared("c0", "text_body", "text/plain", f"My TFN is {TFN}, CRN 273464686A".encode(), source="body 1"),
            Cleared("c1", "attachment", "text/csv", f"name,tfn\nx,{TFN}\n".encode(), f"tfn {TFN}.csv", source="a"),
            Cleared("c2", "attachment", "application/pdf", b"%PDF-1.4 " + TFN.encode(), "scan.pdf"),
        ],
        EmailFacts(subject=f"New job - tax file number {TFN}", from_address="someone@example.org"),
    )
    masked = without_tfns(screening)
    assert masked.email is not None and TFN not in str(masked.email.subject)
    assert all(TFN not in f.part and TFN not in f.detail for f in masked.findings)
    body, csv, pdf = masked.cleared
    assert TFN.encode() not in body.content and b"273464686A" in body.content
    assert TFN.encode() not in csv.content and TFN not in (csv.filename or "")
    assert pdf.content == screening.cleared[2].content  # binary files are cleared as they are


def test_a_crn_in_the_subject_and_a_filename_is_kept_while_the_tfn_beside_it_is_masked() -> None:
    """seed 001 line 26 (a customer's record is found by CRN), issue 14: nine digits after "CRN" or
    "customer reference number", or before their check letter, are a CRN; a TFN is masked."""
    crns = ("CRN 273 464 686A", "customer reference number 273464686 A", "273464686K")
    for crn in crns:
        screening = Screening(
            "clear",
            [],
            [Cleared("c1", "attachment", "text/plain", b"Payslip", f"{crn} TFN 123 456 782.txt", source="a")],
            EmailFacts(subject=f"{crn} - my TFN is 123 456 782", from_address="someone@example.org"),
        )
        masked = without_tfns(screening)
        assert masked.email is not None and masked.email.subject == f"{crn} - my TFN is [TFN REMOVED]"
        assert masked.cleared[0].filename == f"{crn} TFN [TFN REMOVED].txt"
