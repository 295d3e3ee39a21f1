"""What a consumer runner consumes: a topic, its handler and what the handler reads (consumer.py).

Split from consumer.py to keep both short. A subscription's handler may declare the details it
reads (`handler_context.reads_details`) and that it reads its event's blobs
(`handler_context.reads_blobs`); the runner reads both with the partition batch's check-in
(issue 18).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord

from mailintake_common.batches import blobs_to_read
from mailintake_common.blob_links import refs_in
from mailintake_common.details import Details
from mailintake_common.dlq import parse_dead_letter
from mailintake_common.events import Envelope, parse_event
from mailintake_common.handler_context import READS_BLOBS, READS_DETAILS, HandlerContext
from mailintake_common.settings import CommonSettings

Handler = Callable[[Envelope[Any], HandlerContext[Any]], Awaitable[None]]
Parser = Callable[[ConsumerRecord], Envelope[Any]]


def parse_record(record: ConsumerRecord) -> Envelope[Any]:
    """An event topic's record: a versioned envelope (raises InvalidEvent)."""
    return parse_event(record.value or b"")


def parse_dead_letter_record(record: ConsumerRecord) -> Envelope[Any]:
    """A `<topic>.dlq` record: plain JSON keyed by document id (raises InvalidEvent)."""
    return parse_dead_letter(record.value or b"", record.key)


@dataclass
class Subscription:
    topic: str
    handler: Handler
    stage: str  # the stage name shown on the timeline when this handler gives up
    parse: Parser = parse_record
    # The details table the handler reads (details.py), fetched with the batch's check-in and
    # given in its context; by default what the handler declares (`handler_context.reads_details`)
    details: type[Details] | None = None
    # Whether the handler reads its event's blobs: small ones kept in PostgreSQL are read with the
    # batch's check-in; by default what the handler declares (`handler_context.reads_blobs`)
    blobs: bool | None = None

    def __post_init__(self) -> None:
        if self.details is None:
            self.details = getattr(self.handler, READS_DETAILS, None)
        if self.blobs is None:
            self.blobs = getattr(self.handler, READS_BLOBS, False)

    def blobs_to_read(self, settings: CommonSettings, events: Sequence[Envelope[Any]]) -> list[str] | None:
        """The blobs the batch's check-in reads for `events` (None: this handler reads none there).

        Only content kept in PostgreSQL (an S3 store's is in the bucket), each blob at most
        `consumer_prefetch_blob_bytes` and no larger than a part handed to a worker as bytes
        (`part_spool_bytes`: a larger one is streamed to a file instead)."""
        each = min(settings.consumer_prefetch_blob_bytes, settings.part_spool_bytes)
        if not self.blobs or settings.blob_store != "postgres" or each <= 0:
            return None
        refs = ((ref.sha256, ref.size) for event in events for ref in refs_in(event.payload))
        return blobs_to_read(refs, each, settings.consumer_prefetch_batch_bytes)
