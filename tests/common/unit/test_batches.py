"""A partition's batch worked on by document (issue 18): grouping, and the offset safe to commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mailintake_common.batches import Progress, blobs_to_read, chains, first_copies
from mailintake_common.events import BlobRef, DocumentReceivedV1, InvalidEvent, ReceivedPart, new_event
from mailintake_common.handler_context import reads_blobs
from mailintake_common.settings import CommonSettings
from mailintake_common.subscriptions import Subscription


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


def test_a_batch_reads_each_small_blob_once_within_its_bounds_in_order() -> None:
    """Choice (docs/seeds.md, database round trips): blobs up to a size each and in all."""
    refs = [("a", 10), ("big", 101), ("b", 40), ("a", 10), ("c", 60), ("d", 50)]
    # "big" is over the bound for one blob; "c" would take the batch past 100 bytes; "d" still fits
    assert blobs_to_read(refs, each_bytes=100, batch_bytes=100) == ["a", "b", "d"]
    assert blobs_to_read(refs, each_bytes=0, batch_bytes=100) == []


def test_a_stage_reads_blobs_with_its_check_in_only_when_its_handler_declared_it_and_they_are_in_postgresql() -> None:
    """Choice (docs/seeds.md, database round trips): PostgreSQL only, never above a spooled part."""

    async def handler(event: object, ctx: object) -> None: ...

    received = DocumentReceivedV1(channel="email", received_at=datetime.now(UTC), parts=[part("1" * 64, 9)])
    event = new_event("d1", received)
    settings = CommonSettings(consumer_prefetch_blob_bytes=100)
    assert Subscription("t", handler, "s").blobs_to_read(settings, [event]) is None  # not declared
    declared = Subscription("t", reads_blobs(handler), "s")
    assert declared.blobs_to_read(settings, [event]) == ["1" * 64]
    assert declared.blobs_to_read(settings.model_copy(update={"part_spool_bytes": 8}), [event]) == []
    s3 = settings.model_copy(update={"blob_store": "s3"})
    assert declared.blobs_to_read(s3, [event]) is None


def part(sha: str, size: int) -> ReceivedPart:
    return ReceivedPart(part_id="p0", role="raw_email", blob=BlobRef(sha256=sha, size=size, media_type="text/plain"))
