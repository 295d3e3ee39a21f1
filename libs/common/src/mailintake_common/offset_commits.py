"""A consumer's offsets committed at most once per interval while records keep coming (issue 18).

Each commit is a request to the broker that the client encodes and decodes in Python: committed
after every partition's batch, at saturation that was about one commit per event in every
consumer, and as much again of the broker's CPU. Now the finished offsets (`batches.Progress`:
only past records that are all finished) wait here and go in one request for all partitions once
`MAILINTAKE_CONSUMER_COMMIT_INTERVAL_MS` has passed since the last, and at once when the consumer
has nothing to do, when partitions are revoked (a rebalance: `Rebalances`) and when it stops.

At-least-once holds as before: a crash commits nothing more, so the new owner of a partition
reads again the records applied since the last commit (up to one interval's worth) and skips them
by event id (consumers are idempotent). A partition no longer assigned is left out of a commit
(its new owner reads from the last commit): committing it failed the whole request.

A broker that restarted empty (Tansu keeps its log in memory) can still be handed offsets this
consumer finished before the restart (a commit on revoke or at stop), and it takes them: fetching
from past the end of a log waits, without an error, until the log grows that long, and every event
in between is skipped. So on assignment a committed offset past the end of its log means the log
was lost: the partition is read again from its start (`Rebalances.on_partitions_assigned`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from mailintake_common.fetched import Fetched

log = logging.getLogger(__name__)
REVOKE_COMMIT_TIMEOUT_S = 5.0  # as the commit at stop (consumer.py)
ASSIGN_CHECK_TIMEOUT_S = 5.0


class OffsetCommits:
    """The finished offsets of one consumer not yet committed, and when to commit them."""

    def __init__(self, consumer: AIOKafkaConsumer, interval_s: float, group: str) -> None:
        self.finished: dict[TopicPartition, int] = {}  # next offset per partition (apply_batch sets it)
        self._consumer = consumer
        self._interval_s = interval_s
        self.group = group
        self._last = time.monotonic()

    async def due(self) -> None:
        """Commit what finished if the interval has passed since the last commit (0: always)."""
        if self.finished and time.monotonic() - self._last >= self._interval_s:
            await self.now()

    async def now(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Commit what finished (of `partitions`, or all) on the partitions still assigned."""
        assigned = self._consumer.assignment()
        wanted = self.finished.keys() if partitions is None else set(partitions) & self.finished.keys()
        offsets = {tp: self.finished[tp] for tp in wanted if tp in assigned}
        for tp in [tp for tp in wanted if tp not in assigned]:  # its new owner reads from the last commit
            del self.finished[tp]
        if not offsets:
            return
        self._last = time.monotonic()  # before the await: a commit started meanwhile waits a whole interval
        await self._consumer.commit(offsets)
        for tp, offset in offsets.items():
            if self.finished.get(tp) == offset:  # nothing finished past it during the commit
                del self.finished[tp]


async def from_start_where_the_log_was_lost(
    consumer: AIOKafkaConsumer, assigned: Iterable[TopicPartition]
) -> list[TopicPartition]:
    """Seek to the start of each assigned partition whose committed offset is past the end of its
    log (the broker lost the log the offset was committed against); returns those partitions."""
    partitions = sorted(assigned)
    if not partitions:
        return []
    ends = await consumer.end_offsets(partitions)
    lost = [tp for tp in partitions if (committed := await consumer.committed(tp)) is not None and committed > ends[tp]]
    if lost:
        await consumer.seek_to_beginning(*lost)
    return lost


class Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what finished on partitions taken away in a rebalance, before they go; reads a
    partition it is given from the start when the broker lost the log its offset was committed on."""

    def __init__(self, consumer: AIOKafkaConsumer, group: str) -> None:
        self.commits: OffsetCommits | None = None
        self.fetched: Fetched | None = None  # records fetched ahead: a revoked partition's are dropped
        self._consumer = consumer
        self.group = group

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if self.fetched is not None:
            self.fetched.drop(revoked)
        if self.commits is None:
            return
        try:  # bounded: the rebalance waits for this, and a commit retries while the broker has no
            # such topic (a broker that restarted empty), which would hold every partition still
            await asyncio.wait_for(self.commits.now(revoked), REVOKE_COMMIT_TIMEOUT_S)
        except Exception as exc:  # the new owner reads again from the last commit: duplicates, skipped
            log.warning("offsets not committed on revoke", extra={"consumer": self.group, "error": type(exc).__name__})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        try:  # bounded as the commit on revoke: the rebalance waits for this too
            lost = await asyncio.wait_for(
                from_start_where_the_log_was_lost(self._consumer, assigned), ASSIGN_CHECK_TIMEOUT_S
            )
        except Exception as exc:  # read from the committed offsets, as before
            log.warning("committed offsets not checked", extra={"consumer": self.group, "error": type(exc).__name__})
            return
        for tp in lost:
            log.warning(
                "committed offset past the end of the log: reading it from its start",
                extra={"consumer": self.group, "topic": tp.topic, "partition": tp.partition},
            )
