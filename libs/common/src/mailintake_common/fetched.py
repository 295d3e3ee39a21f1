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

from aiokafka import ConsumerRecord, TopicPartition

AHEAD = 2  # batches a partition's queue holds


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
