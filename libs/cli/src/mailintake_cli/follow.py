"""`mailintake tail`: print a queue topic's events as they arrive."""

from __future__ import annotations

import asyncio
import json
import time

import click
from aiokafka import AIOKafkaConsumer


async def follow(
    bootstrap: str, topic: str, from_beginning: bool, max_messages: int, timeout_s: float, as_json: bool
) -> int:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    seen = 0
    deadline = time.monotonic() + timeout_s if timeout_s else None
    try:
        while deadline is None or time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    click.echo(_line(record.value or b"", as_json))
                    seen += 1
                    if max_messages and seen >= max_messages:
                        return seen
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return seen


def _line(raw: bytes, as_json: bool) -> str:
    if as_json:
        return raw.decode(errors="replace")
    try:
        event = json.loads(raw)
        payload = event.get("payload", {})
        return (
            f"{event.get('occurred_at', '')}  {event.get('document_id')}  {payload.get('queue', '')}"
            f"  {payload.get('category', '')}  priority={payload.get('priority', False)}"
        )
    except ValueError:
        return raw.decode(errors="replace")
