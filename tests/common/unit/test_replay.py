"""Telling a replay of a dead-lettered event from a redelivery, and what a retry resumes (issue 16)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailintake_common.domain_errors import Conflict
from mailintake_common.events import TOPIC_CLASSIFIED, TOPIC_RECEIVED, TOPIC_SCREENED, dlq_topic
from mailintake_common.recovery import StageInput, retry_plan
from mailintake_common.replay import REPLAY_HEADER, Marker, seen_before

DEAD_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
DEAD = Marker(dead_lettered=True, at=DEAD_AT)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_an_event_never_seen_is_new() -> None:
    assert seen_before(None, {}, ms(DEAD_AT)) == "new"


def test_an_applied_event_is_a_duplicate_even_when_marked_as_a_replay() -> None:
    applied = Marker(dead_lettered=False, at=DEAD_AT)
    assert seen_before(applied, {REPLAY_HEADER: "x"}, ms(DEAD_AT + timedelta(hours=1))) == "duplicate"


def test_a_redelivery_of_a_dead_lettered_record_is_a_duplicate() -> None:
    """The same record again (published before the consumer gave up on it)."""
    assert seen_before(DEAD, {}, ms(DEAD_AT - timedelta(seconds=5))) == "duplicate"


def test_a_record_without_a_timestamp_and_without_the_header_is_a_duplicate() -> None:
    assert seen_before(DEAD, {}, None) == "duplicate"


def test_a_copy_sent_back_with_the_replay_header_is_a_replay() -> None:
    assert seen_before(DEAD, {REPLAY_HEADER: "mail.intake.received.dlq:0:4"}, ms(DEAD_AT)) == "replay"


def test_a_copy_published_after_the_dead_letter_is_a_replay() -> None:
    """An operator copied the DLQ record's value back to its topic by hand."""
    assert seen_before(DEAD, {}, ms(DEAD_AT + timedelta(minutes=3))) == "replay"


@pytest.mark.parametrize(
    ("topic", "status"),
    [(TOPIC_RECEIVED, "received"), (TOPIC_SCREENED, "screened"), (TOPIC_CLASSIFIED, "classified")],
)
def test_a_retried_document_waits_again_at_its_failed_stage(topic: str, status: str) -> None:
    assert retry_plan("failed", StageInput(topic, "d", b"{}")) == status


def test_only_a_failed_document_is_retried() -> None:
    with pytest.raises(Conflict) as refused:
        retry_plan("routed", StageInput(TOPIC_SCREENED, "d", b"{}"))
    assert refused.value.code == "not_failed"


def test_a_failure_whose_input_is_gone_or_not_a_stage_is_refused() -> None:
    with pytest.raises(Conflict) as gone:
        retry_plan("failed", None)
    assert gone.value.code == "input_not_kept"
    with pytest.raises(Conflict) as alerts:
        retry_plan("failed", StageInput(dlq_topic(TOPIC_SCREENED), "d", b"{}"))
    assert alerts.value.code == "not_retryable"
