"""Reading topics in tests: from the beginning, without a consumer group."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


async def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 30.0,
) -> list[dict[str, Any]]:
    """Every JSON value on `topic` (all partitions, from offset 0) once `until(values)` holds.

    Raises TimeoutError carrying what was seen when the condition never held.
    """
    deadline = time.monotonic() + timeout_s
    seen: list[dict[str, Any]] = []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions: set[int] | None = None
        while partitions is None and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if partitions is None:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic)
                if partitions is None:
                    await asyncio.sleep(0.2)
        if partitions is None:
            raise TimeoutError(f"topic {topic} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                seen.extend(value for r in records if isinstance(value := _json(r.value), dict))
            if until(seen):
                return seen
        raise TimeoutError(f"condition not met on {topic}; saw {len(seen)} message(s)")
    finally:
        await consumer.stop()


def _json(raw: bytes | None) -> object:
    """A record's JSON value, or None for anything else (poison-message tests put junk on topics)."""
    try:
        return json.loads(raw or b"")
    except ValueError:
        return None


def has_documents(document_ids: set[str]) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda values: document_ids <= {v.get("document_id") for v in values}


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def text(self) -> str:
        """Key, value and headers as one text to search (bytes that are not UTF-8 are replaced)."""
        parts = [self.key, self.value, *(name.encode() + b"=" + value for name, value in self.headers)]
        return "\n".join(p.decode("utf-8", errors="replace") for p in parts)


async def read_every_topic(bootstrap: str, timeout_s: float = 60.0) -> list[Record]:
    """Every record on every topic of the broker (not the broker's own `__` topics), from offset 0
    to the end each partition has now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        topics = sorted(t for t in await consumer.topics() if not t.startswith("__"))
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} record(s) and not every partition to its end")
            batches = await consumer.getmany(timeout_ms=300)
            for tp, batch in batches.items():
                records += [
                    Record(tp.topic, r.key or b"", r.value or b"", tuple((n, v or b"") for n, v in r.headers or ()))
                    for r in batch
                    if r.offset < ends[tp]
                ]
        return records
    finally:
        await consumer.stop()
