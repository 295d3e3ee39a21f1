"""Reading topics in tests: from the beginning, without a consumer group."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
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
