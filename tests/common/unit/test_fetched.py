"""Records fetched ahead of each partition's work (issue 18, session 13, `fetched.py`).

The queues alone; the runner that fills them from a real broker is tested in
tests/common/integration/test_consumer_batches.py."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition

from mailintake_common.fetched import AHEAD, Fetched
from mailintake_common.offset_commits import Rebalances

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def records(tp: TopicPartition, offsets: range) -> list[Any]:
    return [f"{tp.partition}:{offset}" for offset in offsets]


async def test_each_partition_gets_its_own_records_in_order_a_batch_at_a_time() -> None:
    fetched = Fetched(3)
    fetched.add({A: records(A, range(0, 4)), B: records(B, range(0, 2))}, {A, B})
    assert await fetched.next_batch(A) == records(A, range(0, 3))
    assert await fetched.next_batch(B) == records(B, range(0, 2))
    assert await fetched.next_batch(A) == records(A, range(3, 4))


async def test_a_partition_waits_for_records_and_wakes_when_they_come() -> None:
    fetched = Fetched(3)
    waiting = asyncio.create_task(fetched.next_batch(A))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    fetched.add({A: records(A, range(7, 9))}, {A})
    assert await asyncio.wait_for(waiting, 1) == records(A, range(7, 9))


async def test_a_queue_has_room_for_ahead_batches_and_a_batch_taken_makes_room() -> None:
    fetched = Fetched(2)
    assert fetched.room(A) == AHEAD * 2
    fetched.add({A: records(A, range(0, AHEAD * 2))}, {A})
    assert fetched.room(A) == 0
    fetched.room_made.clear()
    await fetched.next_batch(A)
    assert fetched.room_made.is_set()
    assert fetched.room(A) == 2


async def test_a_revoked_partitions_records_are_dropped_and_later_ones_left_out() -> None:
    fetched = Fetched(2)
    rebalances = Rebalances(cast(AIOKafkaConsumer, object()), "group")
    rebalances.fetched = fetched
    fetched.add({A: records(A, range(0, 4)), B: records(B, range(0, 1))}, {A, B})
    await rebalances.on_partitions_revoked([A])
    assert (fetched.waiting(A), fetched.waiting(B)) == (0, 1)
    fetched.add({A: records(A, range(4, 6))}, {B})  # fetched before the revoke, returned after it
    assert fetched.waiting(A) == 0
    fetched.add({A: records(A, range(0, 1))}, {A, B})  # given back: read again from the last commit
    assert await fetched.next_batch(A) == records(A, range(0, 1))
