"""A partition's batch worked on by document (issue 18): grouping, and the offset safe to commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mailintake_common.batches import Progress, chains, first_copies
from mailintake_common.events import DocumentReceivedV1, InvalidEvent, new_event


@dataclass(frozen=True)
class Rec:
    offset: int
    key: bytes | None


def test_records_are_grouped_by_document_each_in_offset_order() -> None:
    records = [Rec(10, b"a"), Rec(11, b"b"), Rec(12, b"a"), Rec(13, None), Rec(14, b"c"), Rec(15, None), Rec(16, b"b")]
    assert [[r.offset for r in chain] for chain in chains(records)] == [[10, 12], [11, 16], [13, 15], [14]]


def test_the_commit_offset_waits_for_the_first_unfinished_record() -> None:
    progress = Progress([5, 6, 7, 9])  # 8 is missing (a compacted or transactional gap)
    assert progress.finish(7) is None  # 5 and 6 not done: nothing may be committed
    assert progress.finish(9) is None
    assert progress.finish(6) is None
    assert not progress.done
    assert progress.finish(5) == 10  # all four finished: past the last one
    assert progress.done


def test_the_commit_offset_moves_record_by_record_when_they_finish_in_order() -> None:
    progress = Progress([0, 1, 2])
    assert progress.finish(0) == 1
    assert progress.finish(2) is None
    assert progress.finish(1) == 3


def test_only_the_first_copy_of_an_event_and_only_valid_events_are_checked_in_together() -> None:
    def received(document_id: str):
        return new_event(document_id, DocumentReceivedV1(channel="webform", received_at=datetime.now(UTC), parts=[]))

    first, other = received("doc-1"), received("doc-2")
    records = [Rec(0, b"doc-1"), Rec(1, b"x"), Rec(2, b"doc-2"), Rec(3, b"doc-1")]
    parsed = {0: first, 1: InvalidEvent("invalid event: not JSON"), 2: other, 3: first}
    assert first_copies(records, parsed) == {first.event_id: (0, "doc-1"), other.event_id: (2, "doc-2")}
