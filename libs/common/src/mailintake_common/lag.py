"""Consumer lag per group and partition, from the consumer's own positions (issue 16).

Lag is what the broker holds for a partition this process is assigned and has not yet applied:
the partition's end offset minus the next offset to apply. The next offset is the runner's own
record of what it finished (`applied`), or, for a partition it has not applied anything from
since it was assigned, the group's committed offset (fetched once; the partition's first offset
when none). End offsets are fetched for all assigned partitions in one request per refresh
interval, never per scrape; a scrape only reads the gauge. A consumer stuck in a handler keeps
reporting, because this runs beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from mailintake_common import observability as obs

log = logging.getLogger(__name__)


@dataclass
class LagTracker:
    group: str
    interval_s: float
    _next: dict[TopicPartition, int] = field(default_factory=dict)
    _reported: set[TopicPartition] = field(default_factory=set)

    def applied(self, tp: TopicPartition, offset: int) -> None:
        """The record at `offset` is applied (or dead-lettered)."""
        self._next[tp] = offset + 1

    async def watch(self, consumer: AIOKafkaConsumer) -> None:
        """Refresh the lag gauges until cancelled (run beside the consumer's loop)."""
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    await self.refresh(consumer)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.info("consumer lag not refreshed", extra={"consumer": self.group, "error": type(exc).__name__})
        finally:
            self.forget_all()

    async def refresh(self, consumer: AIOKafkaConsumer) -> None:
        assigned = set(consumer.assignment())
        for tp in list(self._next):
            if tp not in assigned:  # revoked: another member reports it now
                del self._next[tp]
        for tp in self._reported - assigned:
            self._forget(tp)
        if not assigned:
            return
        ends = await consumer.end_offsets(sorted(assigned))
        for tp in assigned:
            if tp not in self._next:
                committed = await consumer.committed(tp)
                if committed is None:  # nothing committed yet: the group starts from the beginning
                    committed = (await consumer.beginning_offsets([tp]))[tp]
                self._next.setdefault(tp, committed)
            obs.CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(0, ends[tp] - self._next[tp]))
            self._reported.add(tp)

    def _forget(self, tp: TopicPartition) -> None:
        with contextlib.suppress(KeyError):
            obs.CONSUMER_LAG.remove(self.group, tp.topic, str(tp.partition))
        self._reported.discard(tp)

    def forget_all(self) -> None:
        for tp in list(self._reported):
            self._forget(tp)
        self._next.clear()
