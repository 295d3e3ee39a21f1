"""Which blobs a payload names, however deep: what the outbox links and a batch reads (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime

from mailintake_common.blob_links import refs_in, shas_in
from mailintake_common.events import BlobRef, ClearedPart, DocumentClassifiedV1, DocumentScreenedV1, EmailFacts


def ref(digit: str) -> BlobRef:
    return BlobRef(sha256=digit * 64, size=10, media_type="text/plain")


def test_every_reference_is_found_in_order_however_deep() -> None:
    parts = [
        ClearedPart(part_id=f"p{i}", kind="attachment", media_type="application/pdf", blob=ref(d), filename="x.pdf")
        for i, d in enumerate("121")
    ]
    screened = DocumentScreenedV1(
        channel="email",
        received_at=datetime.now(UTC),
        verdict="clear",
        cleared_parts=parts,
        email=EmailFacts(subject="Payslips attached", from_address="pay@example.org", to_addresses=["edc@example.gov"]),
    )
    assert refs_in(screened) == [ref("1"), ref("2"), ref("1")]
    assert refs_in({"a": [screened], "b": (ref("3"),)}) == [ref("1"), ref("2"), ref("1"), ref("3")]
    assert shas_in(screened) == {"1" * 64, "2" * 64}
    assert refs_in("1" * 64) == [] and refs_in(None) == []


def test_a_classified_payload_names_its_text() -> None:
    classified = DocumentClassifiedV1(
        channel="webform",
        received_at=datetime.now(UTC),
        verdict="clear",
        document_type="change_of_circumstances",
        confidence=0.9,
        at_risk=False,
        content_sha256="0" * 64,
        text_blob=ref("4"),
    )
    assert refs_in(classified) == [ref("4")]
