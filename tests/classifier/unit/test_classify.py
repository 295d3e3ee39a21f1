"""Classification of whole items: urgent line, masking, held items, bounces, other agencies."""

from __future__ import annotations

from mailintake_classifier.domain.at_risk.words import read_words
from mailintake_classifier.domain.classify import URGENT_LINE, ItemText, Section, classify, normalise_body
from mailintake_classifier.domain.identifiers import TFN_MASK
from mailintake_classifier.domain.normalise import normalise


def test_complaint_form_with_at_risk_language_gets_the_urgent_first_line_and_true_offsets() -> None:
    result = classify(
        ItemText(
            "webform",
            form_type="complaint_feedback",
            sections=[Section("body 1", "message: nobody listens, I just want to end it all")],
        )
    )
    assert result.text.splitlines()[0] == URGENT_LINE
    (match,) = result.at_risk
    assert result.text[match.offset : match.offset + len(match.phrase)] == match.phrase
    assert result.document.document_type == "complaint_feedback"


def test_other_forms_with_a_match_raise_at_risk_without_the_urgent_line() -> None:
    result = classify(ItemText("webform", form_type="contact_us", sections=[Section("body 1", "I want to die")]))
    assert result.at_risk and not result.text.startswith(URGENT_LINE)


def test_tax_file_numbers_never_reach_the_stored_text() -> None:
    result = classify(
        ItemText("email", sections=[Section("body 1", "my tax file number is 123 456 782, CRN 123456789A")])
    )
    assert "123 456 782" not in result.text and TFN_MASK in result.text
    assert result.identifiers.crn == ["123456789A"]


def test_held_items_are_read_for_risk_and_identifiers_but_not_typed() -> None:
    result = classify(
        ItemText(
            "email",
            verdict="quarantined",
            sections=[Section("body 1", "Court order attached. CRN 123456789A. I can't keep going like this.")],
        )
    )
    assert result.document.document_type is None
    assert result.at_risk and result.identifiers.crn == ["123456789A"]


def test_a_delivery_status_report_is_returned_to_sender() -> None:
    result = classify(ItemText("email", report_type="delivery-status", sections=[Section("body 1", "Delivery failed")]))
    assert result.document.document_type == "returned_to_sender"


def test_mail_for_another_agency_is_not_child_support_related() -> None:
    other = classify(
        ItemText("email", sections=[Section("body 1", "Please update my Medicare card and my JobSeeker payment.")])
    )
    assert other.intended_for_other_agency and not other.child_support_related
    ours = classify(
        ItemText("email", sections=[Section("body 1", "Centrelink said to send my child support agreement here.")])
    )
    assert ours.child_support_related and not ours.intended_for_other_agency
    unknown = classify(ItemText("email", sections=[Section("body 1", "Please call me back.")]))
    assert unknown.child_support_related


def test_overseas_cases_are_flagged() -> None:
    assert classify(
        ItemText("email", sections=[Section("body 1", "Inland Revenue New Zealand child support case")])
    ).overseas


def test_text_past_the_item_budget_is_reported_unchecked_not_silently_dropped() -> None:
    item = ItemText("email", sections=[Section("body 1", "Hello. " * 10), Section("attachment 1 big.txt", "x " * 500)])
    result = classify(item, max_chars=200)
    assert len(result.text) <= 200
    assert result.unchecked == ["attachment 1 big.txt (text beyond the first 200 characters)"]
    assert item.unchecked == []  # the item read is left as it was


def test_the_body_s_reading_is_the_pieces_readings_joined_or_read_again() -> None:
    """normalise_body gives normalise(body) exactly (issue 18), also where a piece's reading
    would begin or end with white space, be empty, or end in a hyphen."""
    pieces_of = [
        ["Re: care", "Dear officer,\nthe kids are with me now.\n\nThanks"],
        ["self-", "harm is not a word I use"],
        ["ends with a zero-width space \u200b", "\u200b", "starts with a diaeresis \u00a8 and a ligature \ufb01ne"],
        ["\u00a8 leading", "trailing \u00a8"],
        ["I\u0307stanbul İ and CHIId ki11 q1234", "full-width \uff11\uff12\uff13"],
    ]
    for pieces in pieces_of:
        body = "\n\n".join(pieces)
        expected, found = normalise(body), normalise_body(body, [read_words(p) for p in pieces])
        assert (found.source, found.text, found.lower) == (expected.source, expected.text, expected.lower)


def test_prepare_builds_what_the_first_document_would_so_it_costs_no_more_than_the_next() -> None:
    """issue 18: the cues and the needle automaton were built by the consumer's first document."""
    from mailintake_classifier.domain import audience, doctype
    from mailintake_classifier.domain.classify import default_needles, prepare

    built = (default_needles, doctype.default_cues, audience.default_cues)
    for cached in built:
        cached.cache_clear()
    prepare()
    misses = [cached.cache_info().misses for cached in built]
    classify(ItemText("email", sections=[Section("body 1", "Please update my bank details for the payments.")]))
    assert [cached.cache_info().misses for cached in built] == misses
    assert all(cached.cache_info().currsize == 1 for cached in built)
