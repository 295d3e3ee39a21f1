"""Which finished offsets a consumer commits, and when (issue 18, `offset_commits.py`).

A hand-written fake stands for the broker client: it records each commit request and can hold
one open, so the test can finish more records while it is on its way. The real broker's side
is in tests/common/integration/test_consumer_batches.py."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from mailintake_common.offset_commits import OffsetCommits, Rebalances

A, B, C = (TopicPartition("t", p) for p in range(3))


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.requests: list[dict[TopicPartition, int]] = []
        self.hold: asyncio.Event | None = None
        self.fail = False

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.requests.append(dict(offsets))
        if self.hold is not None:
            await self.hold.wait()
        if self.fail:
            raise RuntimeError("commit failed")


def commits_on(fake: FakeConsumer, interval_s: float) -> OffsetCommits:
    return OffsetCommits(cast(AIOKafkaConsumer, fake), interval_s, "group")


async def test_nothing_is_committed_before_the_interval_then_every_partition_in_one_request() -> None:
    fake = FakeConsumer({A, B})
    commits = commits_on(fake, 3600)
    commits.finished.update({A: 5, B: 7})
    await commits.due()
    assert fake.requests == []
    commits._last -= 3600  # the interval has passed
    await commits.due()
    assert fake.requests == [{A: 5, B: 7}]
    assert commits.finished == {}


async def test_an_interval_of_zero_commits_after_every_batch() -> None:
    fake = FakeConsumer({A})
    commits = commits_on(fake, 0)
    for offset in (2, 4):
        commits.finished[A] = offset
        await commits.due()
    assert fake.requests == [{A: 2}, {A: 4}]


async def test_a_partition_no_longer_assigned_is_left_out_and_forgotten() -> None:
    fake = FakeConsumer({A})
    commits = commits_on(fake, 0)
    commits.finished.update({A: 3, C: 9})  # C went to another member: committing it failed the request
    await commits.now()
    assert fake.requests == [{A: 3}]
    assert commits.finished == {}


async def test_an_offset_finished_during_a_commit_stays_for_the_next_one() -> None:
    fake = FakeConsumer({A, B})
    fake.hold = asyncio.Event()
    commits = commits_on(fake, 0)
    commits.finished.update({A: 3, B: 4})
    sending = asyncio.create_task(commits.now())
    await asyncio.sleep(0)
    commits.finished[A] = 6  # finished while the request was on its way
    fake.hold.set()
    await sending
    assert commits.finished == {A: 6}
    fake.hold = None
    await commits.now()
    assert fake.requests == [{A: 3, B: 4}, {A: 6}]


async def test_a_failed_commit_keeps_the_offsets_and_raises() -> None:
    fake = FakeConsumer({A})
    fake.fail = True
    commits = commits_on(fake, 0)
    commits.finished[A] = 3
    with pytest.raises(RuntimeError):
        await commits.now()
    assert commits.finished == {A: 3}  # the stop commits them again


async def test_revoked_partitions_commit_what_finished_on_them_alone() -> None:
    fake = FakeConsumer({A, B})
    listener = Rebalances(cast(AIOKafkaConsumer, fake), "group")
    await listener.on_partitions_revoked([A])  # before the runner made its commits: nothing to do
    listener.commits = commits_on(fake, 3600)
    listener.commits.finished.update({A: 3, B: 4})
    await listener.on_partitions_revoked([A])
    assert fake.requests == [{A: 3}]
    assert listener.commits.finished == {B: 4}
    fake.fail = True  # a failed commit on revoke is logged: the new owner reads again, skips by event id
    listener.commits.finished[A] = 5
    await listener.on_partitions_revoked([A])
    assert cast(Any, listener.commits.finished) == {A: 5, B: 4}


async def test_a_commit_on_revoke_that_does_not_return_lets_the_rebalance_go_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker that restarted empty has no such topic: the client retries the commit for as long
    as that lasts, and the rebalance, which waits for the listener, would hold every partition."""
    monkeypatch.setattr("mailintake_common.offset_commits.REVOKE_COMMIT_TIMEOUT_S", 0.05)
    fake = FakeConsumer({A})
    fake.hold = asyncio.Event()  # never set
    listener = Rebalances(cast(AIOKafkaConsumer, fake), "group")
    listener.commits = commits_on(fake, 3600)
    listener.commits.finished[A] = 3
    await asyncio.wait_for(listener.on_partitions_revoked([A]), 5)
    assert fake.requests == [{A: 3}] and "offsets not committed on revoke" in caplog.text
