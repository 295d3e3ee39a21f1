"""Records fetched ahead of each partition's work (issue 18, session 13).

The runner takes the records the client has fetched for every partition that has room, all at
once, into a queue per partition; each partition's task takes its next batch from its queue as
soon as its last batch is done. Before, one `getmany` returned one batch in all, mostly from one
or two partitions, and the next came only once every partition's batch was done: at saturation a
consumer worked on about two partitions at a time, and one slow batch held up the rest. Taking
each partition's records together also lets the client fetch again for all of them in one
request (it fetches a partition only once nothing of it is left in its own buffer).

A queue holds at most `AHEAD` batches: what a partition has no room for stays in the client's
buffer, undecoded, and the client fetches nothing more for that partition until it is taken, so a
backlog stays on the broker. Records of a partition taken away in a rebalance are dropped: its new
owner reads them from the last commit.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Iterable
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

AHEAD = 2  # batches a partition's queue holds
FETCH_WAIT_MS = 500  # longest the runner waits for new records before it commits what finished


class Fetched:
    """The fetched records each partition has not started on yet."""

    def __init__(self, batch_size: int) -> None:
        self.size = max(1, batch_size)
        self.room_made = asyncio.Event()  # set when a partition's task takes a batch
        self._queues: defaultdict[TopicPartition, deque[ConsumerRecord]] = defaultdict(deque)
        self._ready: defaultdict[TopicPartition, asyncio.Event] = defaultdict(asyncio.Event)

    def room(self, tp: TopicPartition) -> int:
        """How many more records `tp`'s queue takes."""
        return AHEAD * self.size - self.waiting(tp)

    def waiting(self, tp: TopicPartition) -> int:
        return len(self._queues.get(tp, ()))

    def add(self, batches: dict[TopicPartition, list[ConsumerRecord]], assigned: set[TopicPartition]) -> None:
        """Queue what `getmany` returned. Records of a partition no longer `assigned` (taken away
        while they were on their way) are left out, as they would have been dropped on revoke."""
        for tp, records in batches.items():
            if tp in assigned and records:
                self._queues[tp].extend(records)
                self._ready[tp].set()

    async def next_batch(self, tp: TopicPartition) -> list[ConsumerRecord]:
        """`tp`'s next records, up to a batch, in offset order: waits until there are some."""
        queue, ready = self._queues[tp], self._ready[tp]
        while not queue:
            ready.clear()
            await ready.wait()
        batch = [queue.popleft() for _ in range(min(self.size, len(queue)))]
        self.room_made.set()
        return batch

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget what was fetched for `partitions` (taken away: the next owner reads them again)."""
        for tp in partitions:
            self._queues[tp].clear()


async def fetch_into(fetched: Fetched, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[ConsumerRecord]] | None:
    """Queue what the client holds for every partition with room (each up to its room), else
    wait for records; returns what it queued, None when a wait for records brought none."""
    fetched.room_made.clear()
    assigned = consumer.assignment()
    open_ = [tp for tp in assigned if fetched.room(tp) > 0]
    if assigned and not open_:  # every queue full: wait until a partition's task takes a batch
        with suppress(TimeoutError):
            await asyncio.wait_for(fetched.room_made.wait(), FETCH_WAIT_MS / 1000)
        return {}
    batches: dict[TopicPartition, list[ConsumerRecord]] = {}
    for tp in open_:
        if records := (await consumer.getmany(tp, max_records=fetched.room(tp))).get(tp):
            batches[tp] = records
    if not batches:  # none held: wait for the next fetch (with no partition yet, for an assignment)
        batches = await consumer.getmany(*open_, timeout_ms=FETCH_WAIT_MS, max_records=fetched.size)
        if not batches:
            return None
    fetched.add(batches, consumer.assignment())
    return batches
