"""Personal details stay in the database (issue 15; SPEC 5 Privacy; seed 002 line 28: "Do not
document a customer's personal information"): a v2 event keeps decisions, its details keep the
rest, and joining them gives back exactly what the stage decided."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mailintake_common import details
from mailintake_common.events import (
    EVENT_TYPE_OF,
    PAYLOADS,
    AtRiskMatch,
    BlobRef,
    ClearedPart,
    DocumentClassifiedV1,
    DocumentClassifiedV2,
    DocumentReceivedV1,
    DocumentReceivedV2,
    DocumentScreenedV1,
    DocumentScreenedV2,
    EmailFacts,
    Finding,
    Identifiers,
    PageQuality,
    PersonMention,
    ReceivedPart,
    new_event,
    parse_event,
)
from mailintake_common.outbox import encode

NOW = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
BLOB = BlobRef(sha256="a" * 64, size=120, media_type="application/pdf")
SENDER = "rosalind.pettigrew@example.org"
SUBJECT = "Pettigrew - payslips for the review"
PASSAGE = "some days I don't see the point of going on"
FILENAME = "Rosalind Pettigrew payslip March.pdf"

EMAIL = EmailFacts(from_address=SENDER, to_addresses=["edc@example.gov.au"], subject=SUBJECT, message_id="<m1@x>")


def test_a_received_event_keeps_the_parts_but_not_their_filenames() -> None:
    whole = DocumentReceivedV1(
        channel="scan",
        received_at=NOW,
        batch_id="b7",
        parts=[
            ReceivedPart(part_id="p0", role="scan", filename=FILENAME, declared_type="application/pdf", blob=BLOB),
            ReceivedPart(part_id="p1", role="scan", blob=BLOB),
        ],
    )
    event, kept = details.split_received(whole)
    assert isinstance(event, DocumentReceivedV2)
    assert FILENAME not in event.model_dump_json()
    assert [p.part_id for p in event.parts] == ["p0", "p1"] and event.batch_id == "b7"
    assert kept.filenames == [FILENAME, None]
    assert details.join_received(event, kept) == whole


def test_a_screened_event_keeps_the_verdict_and_rules_but_not_the_email_places_or_names() -> None:
    whole = DocumentScreenedV1(
        channel="email",
        received_at=NOW,
        mailbox="edc",
        verdict="manual_adjustment",
        findings=[Finding(part=f"attachment 1 {FILENAME}", rule="attachment_over_limit", detail="5 MB")],
        cleared_parts=[
            ClearedPart(part_id="", kind="text_body", media_type="text/plain", blob=BLOB, source="body 1"),
            ClearedPart(
                part_id="p0",
                kind="attachment",
                media_type="application/pdf",
                blob=BLOB,
                filename=FILENAME,
                source=f"attachment 1 {FILENAME}",
            ),
        ],
        email=EMAIL,
    )
    event, kept = details.split_screened(whole)
    assert isinstance(event, DocumentScreenedV2)
    wire = event.model_dump_json()
    for personal in (SENDER, SUBJECT, FILENAME, "Pettigrew"):
        assert personal not in wire
    assert event.verdict == "manual_adjustment" and event.rules == ["attachment_over_limit"]
    assert [p.kind for p in event.cleared_parts] == ["text_body", "attachment"]
    assert details.join_screened(event, kept) == whole


def test_a_classified_event_keeps_decisions_and_categories_but_no_identifier_name_or_passage() -> None:
    whole = DocumentClassifiedV1(
        channel="email",
        received_at=NOW,
        verdict="clear",
        email=EMAIL,
        document_type="change_of_circumstances",
        confidence=0.8,
        type_reasons=["change_of_circumstances: cue 'moved house' (+2)"],
        at_risk=True,
        at_risk_matches=[AtRiskMatch(category="self_harm", phrase=PASSAGE, offset=40, part="body 1", layer="lexicon")],
        unchecked=[f"attachment 1 {FILENAME}"],
        pages=[PageQuality(part_id="p0", page=1, ocr_confidence=88.0)],
        identifiers=Identifiers(crn=["208315746K"], abn=["51824753556"], emails=[SENDER]),
        people=[PersonMention(given_name="Rosalind", family_name="Pettigrew", date_of_birth="1986-02-14")],
        writers=[PersonMention(given_name="Rosalind", family_name="Pettigrew", role="client")],
        organisation_names=["Harbourside Dental"],
        employer_correspondence=False,
    )
    event, kept = details.split_classified(whole)
    wire = event.model_dump_json()
    for personal in (SENDER, SUBJECT, PASSAGE, "208315746K", "51824753556", "Rosalind", "1986-02-14", "Harbourside"):
        assert personal not in wire
    assert isinstance(event, DocumentClassifiedV2)
    assert event.at_risk and event.at_risk_categories == ["self_harm"] and event.unchecked_parts == 1
    assert event.document_type == "change_of_circumstances" and event.pages == whole.pages
    assert details.join_classified(event, kept) == whole


def test_v2_is_what_is_written_and_v1_is_still_read() -> None:
    event = new_event("d1", DocumentClassifiedV2(channel="webform", received_at=NOW, verdict="clear"))
    assert (event.event_type, event.schema_version) == ("document.classified", 2)
    assert isinstance(parse_event(encode(event)).payload, DocumentClassifiedV2)
    old = json.loads(encode(event))
    old["schema_version"] = 1
    old["payload"] |= {"people": [{"given_name": "A", "family_name": "B"}]}
    del old["payload"]["at_risk_categories"], old["payload"]["unchecked_parts"]
    assert isinstance(parse_event(json.dumps(old).encode()).payload, DocumentClassifiedV1)
    assert {v for (_, v) in EVENT_TYPE_OF.values()} == {1, 2} and set(PAYLOADS.values()) <= set(EVENT_TYPE_OF)


def test_an_alert_event_names_positions_and_categories_never_a_passage_or_a_filename() -> None:
    matches = [
        AtRiskMatch(category="self_harm", phrase=PASSAGE, offset=3, part="subject"),
        AtRiskMatch(category="threat", phrase="I'll make him pay", offset=9, part=f"attachment 2 {FILENAME} page 1"),
        AtRiskMatch(category="self_harm", phrase=PASSAGE, offset=80, part="attached email / body 1"),
    ]
    alert = details.alert_event("a1", "racs", ["C-1"], ["self_harm", "threat"], matches, "v3")
    wire = alert.model_dump_json()
    assert PASSAGE not in wire and "make him pay" not in wire and "Pettigrew" not in wire
    assert alert.parts == ["subject", "attachment 2", "attached email"]
    assert alert.categories == ["self_harm", "threat"] and alert.alert_id == "a1"


def test_a_part_position_stops_at_the_first_word_a_sender_chose() -> None:
    assert details.part_position("scan 1 Pettigrew.tif page 2") == "scan 1"
    assert details.part_position("attachment 1 letters.zip / statement.docx, paragraph 2") == "attachment 1"
    assert details.part_position("form fields") == "form fields"
    assert details.part_position("form fields, field full_name") == "form fields"
    assert details.part_position("attachment 3 2024 tax.pdf") == "attachment 3"
    assert details.part_position("attachment 1 208315746 K.pdf") == "attachment 1"
    assert details.part_position("scan 208315746.tif") == "scan"
    assert details.part_position(None) == "part"
    assert details.part_position("Pettigrew notes.txt") == "part"


def test_the_fields_two_models_share_are_taken_per_pair_of_models() -> None:
    """issue 18: the shared names are worked out once per (source, target) pair and kept, so two
    sources into one target each give their own fields, in the target's order, whichever came first."""
    from pydantic import BaseModel

    class Into(BaseModel):
        a: int = 0
        b: int = 0
        c: int = 0

    class HasAB(BaseModel):
        b: int
        a: int

    class HasC(BaseModel):
        c: int
        d: int

    assert details._common(HasAB(a=1, b=2), Into) == {"a": 1, "b": 2}
    assert details._common(HasC(c=3, d=4), Into) == {"c": 3}
    assert details._common(HasAB(a=5, b=6), Into) == {"a": 5, "b": 6}
    assert details._common(Into(a=7), HasAB) == {"b": 0, "a": 7}
