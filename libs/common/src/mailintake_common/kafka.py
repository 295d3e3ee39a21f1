"""Small broker chores every process needs: is it there, and do the topics exist."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


async def broker_reachable(bootstrap: str, timeout_s: float = 3.0) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except Exception:
        return False
    finally:
        with suppress(Exception):
            await admin.close()


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int) -> None:
    """Create the topics a service uses (and their DLQs); existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t not in existing]
        if wanted:
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(t, partitions, 1) for t in wanted])
    finally:
        await admin.close()
