"""Completing a queue item (SPEC 3 "Work after routing"): once, with an outcome, by someone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailintake_common.domain_errors import Conflict, Invalid
from mailintake_routing.domain.work import complete_item

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
OFFICER = "Team 4 officer (key 1a2b)"


def test_completing_an_open_item_says_who_and_how_and_keeps_the_note_off_the_timeline() -> None:
    done = complete_item("court", None, " attached  to record ", "rang the payer back", OFFICER, NOW, 2000)
    assert done.outcome == "attached to record" and done.completed_at == NOW and done.completed_by == OFFICER
    assert done.reasons[0] == f"completed in court by {OFFICER}: attached to record"
    assert done.reasons[1] == "a note was recorded on the item"
    assert not any("rang the payer" in r for r in done.reasons)


def test_a_second_completion_is_a_conflict() -> None:
    with pytest.raises(Conflict) as refused:
        complete_item("court", NOW, "attached", "", OFFICER, NOW, 2000)
    assert refused.value.code == "item_already_completed"


def test_an_outcome_is_required_and_a_note_is_bounded() -> None:
    with pytest.raises(Invalid) as blank:
        complete_item("court", None, "   ", "", OFFICER, NOW, 2000)
    assert blank.value.code == "outcome_required"
    with pytest.raises(Invalid) as long_note:
        complete_item("court", None, "attached", "x" * 21, OFFICER, NOW, 20)
    assert long_note.value.code == "note_too_long"
