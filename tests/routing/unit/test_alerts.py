"""Alert rules: what raises one, how reasons merge into it, and the officers' transitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mailintake_common.domain_errors import Conflict, Invalid
from mailintake_routing.domain.alerts import (
    UNKNOWN_CUSTOMER_RACS_LEVEL,
    AlertState,
    act_on_alert,
    alert_for_classified,
    alert_for_dead_letter,
    merge_alert,
)

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
OPEN = AlertState("a1", "open", ("self_harm",), "correspondence", ("C-1",))
ME = "officer one (key k1)"


def act(state: AlertState, action: str, outcome: str | None = None, note: str = ""):  # type: ignore[no-untyped-def]
    return act_on_alert(state, action, outcome, note, ME, NOW, 2000)  # type: ignore[arg-type]


def test_nothing_to_check_raises_no_alert() -> None:
    assert alert_for_classified(False, [], [], "court", ["C-1"], 0) is None


def test_unchecked_parts_raise_could_not_be_checked_with_each_source_as_a_reason() -> None:
    alert = alert_for_classified(False, [], ["attachment 1 scan.tif", "body 1"], "court", ["C-1"], 0)
    assert alert is not None and alert.categories == ("could_not_be_checked",)
    assert sum("scan.tif" in r for r in alert.reasons) == 1 and sum("body 1" in r for r in alert.reasons) == 1
    assert alert.customer_ids == ("C-1",) and not alert.customer_unknown


def test_at_risk_and_unchecked_make_one_alert_with_both_categories() -> None:
    alert = alert_for_classified(True, ["threat", "self_harm"], ["attachment 2"], "racs", ["C-3"], 2)
    assert alert is not None
    assert alert.categories == ("could_not_be_checked", "self_harm", "threat") and alert.racs_level == 2


def test_an_at_risk_alert_names_the_detector_version_that_raised_it() -> None:
    """Issue 13: each alert names the detector's version."""
    alert = alert_for_classified(True, ["family_violence"], [], "assessment", ["C-1"], 0, "lexicon-4+model-916@0.45")
    assert alert is not None and alert.detector == "lexicon-4+model-916@0.45"
    assert alert.reasons[0] == "at risk: family_violence (detector lexicon-4+model-916@0.45)"


def test_a_dead_letter_raises_a_restricted_alert_for_an_unknown_customer() -> None:
    alert = alert_for_dead_letter("classifier", "mail.quarantine.screened", "PermanentError after 1 attempt(s)")
    assert alert.categories == ("could_not_be_checked",) and alert.customer_unknown
    assert alert.racs_level == UNKNOWN_CUSTOMER_RACS_LEVEL and alert.customer_ids == ()
    assert "classifier gave up on mail.quarantine.screened" in alert.reasons[0]


def test_the_same_reasons_again_change_nothing() -> None:
    again = alert_for_classified(True, ["self_harm"], [], "correspondence", ["C-1"], 0)
    assert again is not None and merge_alert(OPEN, again) is None


def test_a_new_category_reopens_a_closed_alert() -> None:
    closed = replace(OPEN, status="closed", outcome="no_action")
    merge = merge_alert(closed, alert_for_dead_letter("routing", "mail.classifier.classified", "KeyError"))
    assert merge is not None and merge.reopened and merge.status == "open"
    assert merge.categories == ("could_not_be_checked", "self_harm") and merge.added == ("could_not_be_checked",)
    # an unknown customer never hides the known one
    assert merge.customer_ids == ("C-1",) and merge.racs_level == 0 and not merge.customer_unknown


def test_routing_later_tells_whose_an_unknown_customer_alert_is() -> None:
    unknown = AlertState("a2", "acknowledged", ("could_not_be_checked",), "unrouted", (), 3, True)
    routed = alert_for_classified(False, [], ["body 1"], "assessment", ["C-9"], 0)
    assert routed is not None
    merge = merge_alert(unknown, routed)
    assert merge is not None and not merge.reopened and merge.status == "acknowledged"
    assert (merge.racs_level, merge.customer_unknown, merge.customer_ids) == (0, False, ("C-9",))


def test_acknowledge_an_open_alert_records_who_and_an_optional_outcome() -> None:
    taken = act(OPEN, "acknowledge")
    assert (taken.status, taken.acknowledged_at, taken.acknowledged_by, taken.outcome) == (
        "acknowledged",
        NOW,
        ME,
        None,
    )
    assert taken.closed_at is None and taken.reasons[0] == f"alert a1 acknowledged by {ME}"
    assert act(OPEN, "acknowledge", "referred").outcome == "referred"


def test_acknowledging_twice_or_after_closing_is_a_conflict() -> None:
    with pytest.raises(Conflict) as twice:
        act(replace(OPEN, status="acknowledged", acknowledged_at=NOW), "acknowledge")
    assert twice.value.code == "alert_already_acknowledged"
    with pytest.raises(Conflict) as closed:
        act(replace(OPEN, status="closed"), "acknowledge")
    assert closed.value.code == "alert_closed"


def test_close_needs_an_outcome_and_acknowledges_an_open_alert_implicitly() -> None:
    with pytest.raises(Invalid) as missing:
        act(OPEN, "close")
    assert missing.value.code == "outcome_required"
    taken = act(OPEN, "close", "welfare_check", "called the customer")
    assert (taken.status, taken.acknowledged_at, taken.closed_at, taken.outcome) == (
        "closed",
        NOW,
        NOW,
        "welfare_check",
    )
    assert taken.note == "called the customer"
    assert not any("called the customer" in r for r in taken.reasons), "the note never goes on the timeline"


def test_close_keeps_who_acknowledged_and_a_closed_alert_cannot_close_again() -> None:
    earlier = datetime(2026, 11, 24, tzinfo=UTC)
    acknowledged = replace(OPEN, status="acknowledged", acknowledged_at=earlier, acknowledged_by="other (key k2)")
    taken = act(acknowledged, "close", "referred")
    assert (taken.acknowledged_at, taken.acknowledged_by, taken.closed_by) == (earlier, "other (key k2)", ME)
    with pytest.raises(Conflict) as again:
        act(replace(OPEN, status="closed"), "close", "other")
    assert again.value.code == "alert_closed"


def test_a_note_over_the_limit_is_refused() -> None:
    with pytest.raises(Invalid) as long:
        act(OPEN, "acknowledge", note="x" * 2001)
    assert long.value.code == "note_too_long"
    assert act(OPEN, "acknowledge", note="x" * 2000).note == "x" * 2000
