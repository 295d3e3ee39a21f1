"""Small broker chores every process needs: is it there, and do the topics exist."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from mailintake_common.topics import CONFIG_SOURCE_TOPIC, TopicSpec, altered_configs, config_changes

log = logging.getLogger(__name__)


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
    """Create `topics` with `partitions` and replication factor 1 (tests); existing ones are left as they are."""
    await apply_topics(bootstrap, [TopicSpec(t, partitions, 1) for t in topics])


async def apply_topics(bootstrap: str, specs: Sequence[TopicSpec]) -> None:
    """Create the missing topics with their partitions, replication factor and configs; bring the
    configs of existing ones up to date where the broker can alter them, and log where it cannot.
    Partitions and replication of an existing topic are never changed here (docs/operations.md)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):
                await admin.create_topics([_new_topic(s) for s in missing])
        present = [s for s in specs if s.name in existing]
        if present:
            await _warn_fewer_partitions(admin, present)
        for spec in present:
            if spec.configs:
                await _update_configs(admin, spec)
    finally:
        await admin.close()


def _new_topic(spec: TopicSpec) -> NewTopic:
    return NewTopic(spec.name, spec.partitions, spec.replication_factor, topic_configs=dict(spec.configs))


async def _warn_fewer_partitions(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    """More copies of a consumer than partitions sit idle: say so (adding partitions is an operator's step)."""
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics([s.name for s in specs])}
    except Exception as exc:
        log.warning("topics not described", extra={"error": type(exc).__name__})
        return
    for spec in specs:
        have = described.get(spec.name)
        if have is not None and have < spec.partitions:
            log.warning("topic has fewer partitions than configured", extra={"topic": spec.name, "count": have})


async def _update_configs(admin: AIOKafkaAdminClient, spec: TopicSpec) -> None:
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name)])
        entries = [e for r in responses for res in r.resources for e in res[4]]
        current = {e[0]: e[1] for e in entries}
        changes = config_changes(spec.configs, current)
        if not changes:
            return
        # entries: (name, value, read_only, config_source, is_sensitive, synonyms) from version 1 on
        on_topic = {e[0]: e[1] for e in entries if len(e) >= 6 and e[3] == CONFIG_SOURCE_TOPIC and e[1] is not None}
        wanted = altered_configs(spec.configs, on_topic)
        for response in await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, spec.name, wanted)]):
            for error_code, *_ in response.resources:
                if error_code:
                    raise RuntimeError(f"AlterConfigs error code {error_code}")
        log.info("topic configs altered", extra={"topic": spec.name, "count": len(changes)})
    except Exception as exc:  # a broker without AlterConfigs (Tansu) keeps the topic as it is
        log.warning(
            "topic configs not applied: the broker refused or cannot alter them",
            extra={"topic": spec.name, "error": type(exc).__name__},
        )
